"""Helpers for tests/system/test_browser.py: a headless JupyterLab server and a driver that
opens one lesson in Chromium (via Playwright), runs all its cells and reads back
what the learner would see.

Only the test uses this module. Nothing here writes to the notebooks: autosave is
off, nothing is saved, and every kernel is shut down after its lesson.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LESSON_ENV = {"LLM_SIM_TIME_SCALE": "0.1", "COURSE_PROGRESS": "off", "LLM_BACKEND": "sim"}

# JupyterLab user settings for a clean, side-effect-free UI: no news or update toasts,
# no autosave (the lessons are stored without outputs), every cell in the DOM.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """`python -m jupyterlab` on 127.0.0.1 with a random port and token, rooted at `root`.
    Its settings, workspaces and runtime files live in `workdir` (a temporary folder)."""

    def __init__(self, root: Path, workdir: Path):
        self.root, self.workdir = root, workdir
        self.token = secrets.token_hex(16)
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.log_path = workdir / "jupyterlab.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _env(self) -> dict:
        env = dict(os.environ, **LESSON_ENV)
        env.pop("MPLBACKEND", None)       # the kernel must draw inline, as for a learner
        for name, sub in [("JUPYTERLAB_SETTINGS_DIR", "settings"), ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
                          ("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTER_CONFIG_DIR", "config"),
                          ("", "checkpoints")]:
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
            if name:
                env[name] = str(self.workdir / sub)
        for plugin, values in LAB_SETTINGS.items():
            package, name = plugin.rsplit("/", 1)
            path = self.workdir / "settings" / package / f"{name}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values), encoding="utf-8")
        return env

    def start(self, timeout_s: float = 120) -> None:
        env = self._env()
        for _attempt in range(3):   # a port picked as free can be taken before the server binds it
            self.port = free_port()
            cmd = [sys.executable, "-m", "jupyterlab",
                   "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                   f"--IdentityProvider.token={self.token}", "--ServerApp.open_browser=False",
                   f"--ServerApp.root_dir={self.root}", "--ServerApp.allow_root=True",
                   "--ServerApp.terminals_enabled=False",
                   # opening a notebook makes a checkpoint: keep it out of the repository
                   f"--FileCheckpoints.checkpoint_dir={self.workdir / 'checkpoints'}",
                   "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                   "--LabApp.expose_app_in_browser=True"]   # window.jupyterapp, to read the notebook model
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
            log.close()
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    self.api("GET", "/api/status")
                    return
                except (OSError, urllib.error.URLError):
                    time.sleep(0.5)
            if self.proc.poll() is None:
                break
        self.stop()
        raise RuntimeError(f"JupyterLab did not start; its log ends with:\n{self.log_tail()}")

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def api(self, method: str, path: str, timeout_s: float = 30):
        req = urllib.request.Request(self.base + path, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def shutdown_kernels_for(self, nb_path: str) -> None:
        """Delete the session (and so shut down the kernel) of one notebook, e.g. notebooks/02_stream.ipynb."""
        for session in self.api("GET", "/api/sessions"):
            if session.get("path") == nb_path:
                self.api("DELETE", f"/api/sessions/{session['id']}", timeout_s=60)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            for session in self.api("GET", "/api/sessions"):
                self.api("DELETE", f"/api/sessions/{session['id']}", timeout_s=60)
        except (OSError, urllib.error.URLError, ValueError):
            pass
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


# ---- reading a notebook back from the page -------------------------------------------------

# The NotebookPanel of `path`, from the app object (exposed by --LabApp.expose_app_in_browser).
_PANEL_JS = """(path) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return null;
  return Array.from(app.shell.widgets('main')).find(w => w.context && w.context.path === path) || null;
}"""

STATE_JS = """(path) => {
  const find = %s;
  const panel = find(path);
  if (!panel || !panel.content || !panel.context.isReady) return null;
  const ctx = panel.sessionContext;
  const prompts = panel.content.widgets.filter(c => c.model.type === 'code')
      .map(c => (c.node.querySelector('.jp-InputArea-prompt') || {}).innerText || '');
  return {cells: panel.content.widgets.length, domCells: panel.content.node.querySelectorAll('.jp-Cell').length,
          kernel: ctx && ctx.session && ctx.session.kernel ? ctx.session.kernel.status : 'none',
          ready: !!(ctx && ctx.isReady), prompts};
}""" % _PANEL_JS  # noqa: UP031 -- JavaScript braces; % keeps them literal

# Everything the checks need, cell by cell: the model's outputs and what the DOM shows.
REPORT_JS = """(path) => {
  const find = %s;
  const panel = find(path);
  return panel.content.widgets.map((cell, index) => {
    const code = cell.model.type === 'code';
    const outputs = code ? cell.model.outputs.toJSON() : [];
    const children = code && cell.outputArea ? cell.outputArea.widgets : [];
    const widgetViews = [];
    outputs.forEach((out, k) => {
      if (!out.data || !out.data['application/vnd.jupyter.widget-view+json']) return;
      const node = children[k] ? children[k].node : null;
      widgetViews.push({rendered: !!(node && node.querySelector('.jupyter-widgets')),
                        text: node ? node.innerText.slice(0, 300) : '(no output node)'});
    });
    const area = cell.node.querySelector('.jp-Cell-outputArea');
    return {
      index, type: cell.model.type, source: cell.model.sharedModel.getSource(),
      count: code ? cell.model.executionCount : null,
      outputs: outputs.map(o => ({type: o.output_type, name: o.name || '', ename: o.ename || '',
                                  evalue: o.evalue || '', text: typeof o.text === 'string' ? o.text : '',
                                  mimes: Object.keys(o.data || {})})),
      widgetViews,
      widgetStderr: Array.from(cell.node.querySelectorAll(   // stderr inside widgets' Output areas
          '.jupyter-widgets .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
          .map(e => e.innerText),
      outputText: area ? area.innerText : '',
      widgetsInDom: cell.node.querySelectorAll('.jp-OutputArea-output .jupyter-widgets').length,
    };
  });
}""" % _PANEL_JS  # noqa: UP031 -- JavaScript braces; % keeps them literal


@dataclass
class CellReport:
    index: int
    type: str
    source: str
    count: int | None
    outputs: list
    widgetViews: list
    widgetStderr: list
    outputText: str
    widgetsInDom: int

    @property
    def where(self) -> str:
        first = next((line for line in self.source.splitlines() if line.strip()), "")
        return f"cell {self.index} (`{first[:70]}`)"


TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^-{40,}$|\(full traceback: %tb\)|"
                       r"^\w*(?:Error|Exception)\b[^\n]*:", re.M)
WIDGET_REPR = re.compile(r"\b(?:VBox|HBox|Box|GridBox|Button|IntSlider|FloatSlider|IntProgress|FloatProgress|"
                         r"HTML|Label|Output|RadioButtons|Dropdown|Textarea|Text|Tab|Accordion)"
                         r"\((?:children|value|description|layout|outputs|options|style|msg_id)="
                         r"|\b(?:VBox|HBox|Box)\(\)|<(?:helpers|ipywidgets)[\w.]* object at 0x"
                         r"|Loading widget|Error displaying widget")
# Cells whose code makes a widget: they must show one.
MAKES_WIDGET = re.compile(r"\.show\(|StreamRace\(|StoppableStream\(|BatchLab\(|mapping_widget\(|"
                          r"\w*Widget\(|\bwidgets\.[A-Z]\w*\(|tqdm\(")


@dataclass
class LessonReport:
    lesson: str
    cells: list[CellReport]
    warnings: list[str] = field(default_factory=list)

    def errors(self) -> list[str]:
        """Every error a learner would see, as "cell N (`first line`): what"."""
        problems = []
        for c in self.cells:
            for o in c.outputs:
                if o["type"] == "error":
                    problems.append(f"{c.where}: error output {o['ename']}: {o['evalue'][:300]}")
                elif o["type"] == "stream" and o["name"] == "stderr":
                    if TRACEBACK.search(o["text"]):
                        problems.append(f"{c.where}: error on stderr: {o['text'].strip()[:300]}")
                    elif o["text"].strip():
                        self.warnings.append(f"{c.where}: stderr: {o['text'].strip()[:200]}")
            for text in c.widgetStderr:   # e.g. a button callback that failed inside a widget's Output
                if TRACEBACK.search(text):
                    problems.append(f"{c.where}: error shown inside a widget: {text.strip()[:300]}")
        return problems

    def not_run(self) -> list[str]:
        return [f"{c.where} has no execution count" for c in self.cells
                if c.type == "code" and c.source.strip() and c.count is None]

    def widget_problems(self) -> list[str]:
        problems = []
        for c in self.cells:
            for view in c.widgetViews:
                if not view["rendered"]:
                    problems.append(f"{c.where}: a widget output is not rendered as a widget: {view['text']!r}")
            m = WIDGET_REPR.search(c.outputText)
            if m:
                at = max(m.start() - 60, 0)
                problems.append(f"{c.where}: widget shown as text, not as a widget: "
                                f"{c.outputText[at:m.end() + 60]!r}")
            if c.type == "code" and MAKES_WIDGET.search(c.source) and not c.widgetViews:
                problems.append(f"{c.where}: its code makes a widget but the output has no widget view "
                                f"(output text: {c.outputText[:200]!r})")
        return problems

    def widget_cells(self) -> list[int]:
        return [c.index for c in self.cells if c.widgetViews]


# ---- driving one lesson in the page ---------------------------------------------------------

class LessonPage:
    """One lesson open in its own tab and workspace: open, run all, read back, click widgets."""

    def __init__(self, page, server: LabServer, nb_file: Path, n_cells: int):
        self.page, self.server, self.n_cells = page, server, n_cells
        self.path = nb_file.relative_to(server.root).as_posix()     # e.g. notebooks/02_stream.ipynb
        self.lesson = nb_file.stem
        self.console_errors: list[str] = []
        page.on("console", lambda m: self.console_errors.append(m.text[:300]) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.console_errors.append(f"page error: {str(e)[:300]}"))

    def state(self) -> dict | None:
        return self.page.evaluate(STATE_JS, self.path)

    def wait_until(self, what: str, condition, timeout_s: float, poll_s: float = 0.5):
        """Poll `condition()` until it returns something truthy; fail saying `what` we waited for."""
        deadline, last = time.monotonic() + timeout_s, None
        while time.monotonic() < deadline:
            last = condition()
            if last:
                return last
            time.sleep(poll_s)
        raise AssertionError(f"{self.lesson}: timed out after {timeout_s:.0f} s waiting for {what} "
                             f"(last state: {str(self.state())[:400]})")

    def open(self, timeout_s: float = 120) -> None:
        # A workspace of its own (and ?reset), so no earlier lesson is restored beside this one.
        url = (f"{self.server.base}/lab/workspaces/e2e-{self.lesson.replace('_', '-')}/tree/{self.path}"
               f"?reset&token={self.server.token}")
        self.page.goto(url, wait_until="domcontentloaded", timeout=timeout_s * 1000)

        def loaded():
            s = self.state()
            return s and s["cells"] == self.n_cells and s["domCells"] == self.n_cells and s["ready"] \
                and s["kernel"] == "idle"
        self.wait_until(f"the notebook's {self.n_cells} cells and an idle kernel", loaded, timeout_s)
        self.page.evaluate("() => window.jupyterapp.shell.collapseLeft()")   # room for the notebook

    def _click_menu(self, menu: str, item: str) -> None:
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{re.escape(menu)}$")).click()
        entry = self.page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel",
                                  has_text=re.compile(rf"^{re.escape(item)}$"))
        entry.click(timeout=30_000)

    def run_all(self, timeout_s: float = 240) -> None:
        """Run → Run All Cells, then wait until every code cell has run, or the run stopped."""
        self._click_menu("Run", "Run All Cells")

        def started():
            s = self.state()
            return s and any(p.strip() != "[ ]:" for p in s["prompts"])
        try:
            self.wait_until("Run All Cells to start", started, 30)
        except AssertionError:   # the click reached the menu before the notebook was ready: once more
            self._click_menu("Run", "Run All Cells")
            self.wait_until("Run All Cells to start (second try)", started, 60)

        quiet = [0]

        def finished():
            s = self.state()
            if not s:
                return False
            if all(re.fullmatch(r"\[\d+\]:", p.strip()) for p in s["prompts"]):
                return s["kernel"] == "idle"
            # stopped early (an error ends Run All): nothing queued or running, kernel idle, for 3 polls
            busy = any("*" in p for p in s["prompts"]) or s["kernel"] != "idle"
            quiet[0] = 0 if busy else quiet[0] + 1
            return quiet[0] >= 3
        self.wait_until("every cell to run", finished, timeout_s, poll_s=1.0)

    def report(self) -> LessonReport:
        cells = [CellReport(**c) for c in self.page.evaluate(REPORT_JS, self.path)]
        return LessonReport(self.lesson, cells)

    def cell(self, index: int):
        return self.page.locator(".jp-Notebook .jp-Cell").nth(index)

    def cell_with_button(self, label: str):
        """The first code cell whose output has a button reading `label`."""
        button = self.page.locator(".jp-OutputArea-output button.jupyter-button",
                                   has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
        return self.page.locator(".jp-Notebook .jp-CodeCell").filter(has=button).first, button

    def screenshot(self, element, path: Path) -> None:
        element.evaluate("e => e.scrollIntoView({block: 'center'})")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path))

    def close(self) -> None:
        try:
            self.server.shutdown_kernels_for(self.path)
        finally:
            self.page.close()   # without beforeunload: the unsaved outputs are simply dropped
