"""Check that this machine is ready for the course (lesson 00).

Each check is a plain function that returns a `CheckResult`: did it pass,
what was found, and, if it failed, one line saying how to fix it. No check
raises: a missing package or an unreachable server is a ✘ row, not a traceback.

    from helpers import envcheck
    envcheck.report()        # a table in Jupyter, plain text elsewhere
"""
from __future__ import annotations

import html
import importlib
import importlib.metadata as metadata
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INSTALL = "run `python course.py lab` (or `python -m pip install -r requirements.txt`) and restart the kernel"
# (distribution name, module to import): the packages every lesson needs.
KEY_PACKAGES = (("langchain-core", "langchain_core"), ("langchain-openai", "langchain_openai"),
                ("openai", "openai"), ("ipywidgets", "ipywidgets"), ("matplotlib", "matplotlib"))


@dataclass(frozen=True)
class CheckResult:
    """One check (lesson 00). `ok`: it passed. `detail`: what was found.
    `fix`: one line saying what to do when it failed ("" when it passed).
    `optional`: a failure here is fine, the course runs without it."""

    ok: bool
    name: str
    detail: str
    fix: str = ""
    optional: bool = False

    @property
    def status(self) -> str:
        """The word shown in the report: ✔ ok, ✘ problem, or ○ optional."""
        return "✔ ok" if self.ok else ("○ optional" if self.optional else "✘ problem")


def check_python(version: tuple | None = None) -> CheckResult:
    """Python must be 3.11 or newer (lesson 00). `version` defaults to this Python's."""
    version = tuple(version or sys.version_info[:3])
    shown = ".".join(map(str, version))
    if tuple(version[:2]) >= (3, 11):
        return CheckResult(True, "Python", f"{shown} (3.11 or newer needed)")
    return CheckResult(False, "Python", f"{shown} is too old",
                       "install Python 3.11 or newer, then run `python course.py lab` with it")


def pinned_versions(path: Path | None = None) -> dict[str, str]:
    """The versions the course was tested with (lesson 00): from requirements.txt in a
    checkout, or from the installed course package's own metadata (a wheel install)."""
    path = path or ROOT / "requirements.txt"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        try:
            lines = metadata.requires("invoke-stream-batch") or [] if path == ROOT / "requirements.txt" else []
        except metadata.PackageNotFoundError:
            lines = []
    pins = (re.match(r"\s*([A-Za-z0-9_.-]+)==([^\s#;]+)", line) for line in lines)
    return {m.group(1).lower(): m.group(2) for m in pins if m}


def check_package(dist: str, module: str | None = None, pins: dict | None = None) -> CheckResult:
    """Can `module` be imported, and which version is installed? (lesson 00)"""
    module = module or dist.replace("-", "_")
    try:
        importlib.import_module(module)
        version = metadata.version(dist)
    except Exception as exc:  # noqa: BLE001 -- any failure to import is a ✘ row
        return CheckResult(False, dist, f"cannot import {module} ({type(exc).__name__})", INSTALL)
    pin = (pins if pins is not None else pinned_versions()).get(dist.lower())
    note = f" (course tested with {pin})" if pin and pin != version else ""
    return CheckResult(True, dist, f"{version}{note}")


def check_widgets() -> CheckResult:
    """Is ipywidgets 8 there, with the JupyterLab front-end part? (lesson 00)

    Python alone cannot see your screen: the slider shown after the report is
    the real test. If it draws as a slider, widgets work.
    """
    try:
        major = int(metadata.version("ipywidgets").split(".")[0])
    except metadata.PackageNotFoundError:
        return CheckResult(False, "widgets", "ipywidgets is not installed", INSTALL)
    if major < 8:
        return CheckResult(False, "widgets", f"ipywidgets {metadata.version('ipywidgets')} is too old",
                           "`pip install 'ipywidgets>=8'` and restart the kernel")
    try:
        lab = f", jupyterlab_widgets {metadata.version('jupyterlab_widgets')}"
    except metadata.PackageNotFoundError:
        lab = ", no jupyterlab_widgets (fine in VS Code and Colab)"
    return CheckResult(True, "widgets", f"ipywidgets {metadata.version('ipywidgets')}{lab}: "
                       "a slider below means they draw")


def _connection_fix(name: str) -> str:
    if name == "sim":
        return "restart the kernel and run this cell again (the simulator starts by itself)"
    if name == "local":
        return "restart the kernel; if it fails again, use LLM_BACKEND=sim"
    return "check the server is running and LLM_BASE_URL is right, or use LLM_BACKEND=sim to work offline"


def check_backend(backend=None, timeout_s: float = 10.0) -> CheckResult:
    """Send one short streamed chat request to the chosen backend (lesson 00).

    Shows backend, model, the masked key and the time to first token.
    `backend` is a `Backend` (default: the one LLM_BACKEND chooses). Gives up
    after `timeout_s` seconds (connecting: after at most 5 s), with no retries.
    """
    import openai

    from ..backends import chat_model, mask, resolve_backend
    from ..errors import CourseError
    from ..explain import explain
    from ..timing import measure_stream

    try:
        b = backend or resolve_backend()
    except CourseError as exc:
        return CheckResult(False, "backend", "not configured", str(exc))
    where = f"{b.name} · model {b.model} · key {mask(b.api_key)}"
    llm = chat_model(backend=b, check=False, max_tokens=16, max_retries=0, timeout=timeout_s)
    try:
        result = measure_stream(llm, "Say hello in five words.")
    except openai.APIConnectionError as exc:  # refused, unreachable, or timed out
        kind = "timed out" if isinstance(exc, openai.APITimeoutError) else "unreachable"
        return CheckResult(False, "backend", f"{where}: {kind} at {b.base_url}", _connection_fix(b.name))
    except Exception as exc:  # noqa: BLE001 -- any failure is a ✘ row with advice
        return CheckResult(False, "backend", f"{where}: {type(exc).__name__}", explain(exc))
    if not result.text.strip():
        return CheckResult(False, "backend", f"{where}: answered with no text",
                           "check LLM_MODEL names a chat model on that server")
    return CheckResult(True, "backend", f"{where} · first token after {result.ttft_s:.2f} s")


def check_local_model() -> CheckResult:
    """Is the optional real local model (SmolLM2 on llama.cpp) installed? (lesson 00)
    Looks for the files only; it does not load the model."""
    from ..backends.local_model import INSTALL_HINT, gguf_path
    from ..errors import CourseError

    try:
        path = gguf_path()
    except CourseError:
        return CheckResult(False, "local model", "not installed: every lesson runs without it",
                           f"optional: {INSTALL_HINT}", optional=True)
    size_mb = path.stat().st_size / 1e6
    return CheckResult(True, "local model", f"SmolLM2-135M installed ({size_mb:.0f} MB): "
                       "LLM_BACKEND=local uses it")


@dataclass(frozen=True)
class Report:
    """All checks together (lesson 00): a table in Jupyter, plain text elsewhere."""

    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        """True when every check that is not optional passed."""
        return all(r.ok or r.optional for r in self.results)

    def summary(self) -> str:
        """One closing line: all set, or how many problems to fix."""
        bad = sum(not (r.ok or r.optional) for r in self.results)
        return "All set: you can start the course." if not bad else \
            f"{bad} problem(s): follow the fix on each ✘ row, then run this cell again."

    def __str__(self) -> str:
        width = max(len(r.name) for r in self.results)
        rows = [f"{r.status:<11} {r.name:<{width}}  {r.detail}" + (f"\n{'':<11} {'':<{width}}  fix: {r.fix}"
                                                                     if r.fix else "")
                for r in self.results]
        return "\n".join(rows + ["", self.summary()])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = {"✔": "#009E73", "✘": "#D55E00", "○": "#777777"}
        cells = "".join(
            f"<tr><td style='color:{colour[r.status[0]]};white-space:nowrap'><b>{r.status}</b></td>"
            f"<td style='text-align:left'>{html.escape(r.name)}</td>"
            f"<td style='text-align:left'>{html.escape(r.detail)}</td>"
            f"<td style='text-align:left'>{html.escape(r.fix)}</td></tr>" for r in self.results)
        head = "".join(f"<th style='text-align:left'>{h}</th>" for h in ("status", "check", "found", "fix"))
        return (f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>"
                f"<p><b>{html.escape(self.summary())}</b></p>")


def run_checks(timeout_s: float = 10.0, progress: bool = False) -> tuple[CheckResult, ...]:
    """Run every check in order: Python, packages, widgets, backend, local model (lesson 00).
    progress=True shows a tqdm bar naming the check that is running. The bar stays when done
    ("environment check: 9/9"): a bar that closes itself leaves an empty widget in the saved notebook."""
    pins = pinned_versions()
    steps = [("Python", check_python),
             *((dist, lambda d=dist, m=module: check_package(d, m, pins)) for dist, module in KEY_PACKAGES),
             ("widgets", check_widgets), ("backend", lambda: check_backend(timeout_s=timeout_s)),
             ("local model", check_local_model)]
    if not progress:
        return tuple(check() for _, check in steps)
    from tqdm.auto import tqdm

    results = []
    with tqdm(total=len(steps), desc="environment check", unit="check") as bar:
        for name, check in steps:
            bar.set_description(f"checking {name}")
            results.append(check())
            bar.update(1)
        bar.set_description("environment check")
    return tuple(results)


def report(timeout_s: float = 10.0) -> Report:
    """Run all checks and return a `Report`; Jupyter shows it as a table (lesson 00).
    While they run (the backend check makes a real call), a bar names the current check."""
    return Report(run_checks(timeout_s, progress=True))
