"""Lesson 06: the support chatbot as a small web app, and one call to start it.

    app = start_chat_app()          # idempotent; a free port on 127.0.0.1; dies with the kernel
    app.url                         # e.g. http://127.0.0.1:53121/  (open it, or app.embed())
    app.stats()                     # the app's counters: requests, completed, cancelled, errors

From a terminal: `python -m helpers.chat_app [--port N]`. The app itself is in app.py,
the page in page.html, the event format in events.py, the RAG bot in support.py.
"""
from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
from dataclasses import dataclass

import httpx

from ..errors import BackendError
from .events import parse_sse

__all__ = ["ChatApp", "start_chat_app", "stop_chat_apps", "parse_sse"]

_running: dict[tuple, tuple[subprocess.Popen, ChatApp]] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class ChatApp:
    """A running chat app (lesson 06): where it listens, which model answers."""

    url: str
    backend: str
    llm_url: str
    pid: int

    def stats(self) -> dict:
        """The app's counters: requests, completed, cancelled, errors, rejected_4xx, in_flight."""
        return httpx.get(self.url + "api/stats", timeout=5).json()

    def reset_stats(self) -> dict:
        return httpx.post(self.url + "api/stats/reset", timeout=5).json()

    def link(self) -> str:
        """The URL for your browser: through jupyter-server-proxy on JupyterHub/Binder, else direct."""
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
        if prefix:
            try:
                import jupyter_server_proxy  # noqa: F401
                return f"{prefix.rstrip('/')}/proxy/{self.url.rsplit(':', 1)[1]}"
            except ImportError:
                pass
        return self.url

    def embed(self, height: int = 430):
        """The page inside the notebook (an IFrame) with a link above it."""
        from IPython.display import HTML, IFrame, display
        display(HTML(f'<a href="{self.link()}" target="_blank">Open the chatbot in a new tab: {self.link()}</a>'))
        return IFrame(self.link(), width="100%", height=height)


def _child_env(server) -> tuple[dict, str, str]:
    """The app process's environment: the backend the kernel resolved, so the app reuses the
    kernel's simulator or local model instead of starting its own."""
    from ..backends import SIM_KEY, resolve_backend
    from ..backends.simulator import start_simulator
    from .support import EMBED_URL_ENV, LABEL_ENV

    if server is not None:
        name, url, model, key = "sim", server.base_url, "sim", SIM_KEY
    else:
        b = resolve_backend()
        name, url, model, key = b.name, b.base_url, b.model, b.api_key
    env = {**os.environ, LABEL_ENV: name}
    if name in ("sim", "local"):
        env.update(LLM_BACKEND="compatible", LLM_BASE_URL=url, LLM_MODEL=model, LLM_API_KEY=key)
        embed = server.base_url if server is not None else start_simulator().base_url
        env[EMBED_URL_ENV] = embed
    return env, name, url


def start_chat_app(server=None, deadline_s: float = 60.0, max_tokens: int = 200,
                   timeout_s: float = 30.0, allow_faults: bool = True, per_user_cap: int = 0,
                   k: int = 4) -> ChatApp:
    """Start (or reuse) the chat app in its own process and return where it listens (lesson 06).

    server: a simulator from start_simulator(...) to answer with (default: your backend).
    deadline_s: the most one answer may take. allow_faults: let requests ask the simulator
    for a fault (X-Sim-Fault), for the lesson's experiments; only on sim. per_user_cap: answers
    one user (header X-User) may have in flight; more get HTTP 429 (0: no cap). k: chunks
    retrieved into each prompt (a smaller k means shorter prompts: lesson 06's crowd uses 1).
    """
    env, name, llm_url = _child_env(server)
    key = (name, llm_url, deadline_s, max_tokens, timeout_s, allow_faults, per_user_cap, k)
    with _lock:
        if key in _running:
            proc, app = _running[key]
            if proc.poll() is None and _alive(app.url):
                return app
            proc.kill()
        cmd = [sys.executable, "-m", "helpers.chat_app", "--deadline", str(deadline_s), "--max-tokens",
               str(max_tokens), "--timeout", str(timeout_s), "--per-user-cap", str(per_user_cap), "--k", str(k),
               "--parent-pid", str(os.getpid())]
        if allow_faults and name == "sim":
            cmd.append("--allow-faults")
        from ..backends.simulator import ROOT, _read_line, _stop
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = _read_line(proc, timeout_s=120)
        if not line.startswith("http"):
            proc.kill()
            err = (proc.stderr.read() or "").strip().splitlines()
            raise BackendError(f"The chat app did not start ({err[-1][:200] if err else 'no output'}): run "
                               "`python -m helpers.chat_app` in a terminal to see why.")
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        atexit.register(_stop, proc)
        app = ChatApp(line, name, llm_url, proc.pid)
        _running[key] = (proc, app)
        return app


def _alive(url: str) -> bool:
    try:
        return httpx.get(url + "api/stats", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def stop_chat_apps() -> None:
    """Stop every chat app this kernel started (lesson 06)."""
    from ..backends.simulator import _stop
    with _lock:
        for proc, _ in _running.values():
            _stop(proc)
        _running.clear()
