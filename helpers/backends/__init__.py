"""Choose where the course's `ChatOpenAI` points: one variable, `LLM_BACKEND` (lesson 00).

| LLM_BACKEND | what answers | needs |
|---|---|---|
| `sim` (default) | the course's simulated server, started for you | nothing |
| `local` | SmolLM2-135M on llama.cpp, on your CPU | requirements-local.txt |
| `openai` | OpenAI | `OPENAI_API_KEY` (env, `.env`, or `ask_for_openai_key()`) |
| `compatible` | any OpenAI-compatible server (vLLM, Ollama, LM Studio, a classroom | `LLM_BASE_URL`, `LLM_MODEL`, |
|              | server)                                                          | optional `LLM_API_KEY`        |

Every model this module builds sets `timeout`, `max_retries` and
`stream_usage=True` explicitly: ChatOpenAI's own default timeout is *none at
all* (a stalled server would hang your cell forever), and streamed token usage
is off for custom base URLs unless you ask for it.
"""
from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import openai
from dotenv import load_dotenv

from ..errors import BackendError

BACKENDS = ("sim", "local", "openai", "compatible")
ROOT = Path(__file__).resolve().parents[2]
OPENAI_URL = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
SIM_KEY = "sim-no-key-needed"


def mask(secret: str | None) -> str:
    """Show a key as `sk-…abcd`: enough to recognise it, useless to anyone else."""
    if not secret:
        return "(none)"
    return f"{secret[:3]}…{secret[-4:]}" if len(secret) > 12 else "…" * 3


@dataclass(frozen=True)
class Backend:
    """Where requests go. The key is kept out of repr, str and every message."""

    name: str
    base_url: str
    model: str
    api_key: str = field(repr=False)
    extra: dict = field(default_factory=dict, repr=False, compare=False)

    def __repr__(self) -> str:
        return (f"Backend(name={self.name!r}, base_url={self.base_url!r}, "
                f"model={self.model!r}, api_key={mask(self.api_key)!r})")

    __str__ = __repr__


def load_env() -> None:
    """Read `.env` from the course folder (and the current folder); real env vars win."""
    for p in (ROOT / ".env", Path.cwd() / ".env"):
        if p.is_file():
            load_dotenv(p, override=False)


def ask_for_openai_key() -> None:
    """Ask for an OpenAI key with a hidden prompt (never echoed, never saved)."""
    key = getpass.getpass("OpenAI API key (hidden): ").strip()
    if not key:
        raise BackendError("No key entered: paste your OpenAI key, or use LLM_BACKEND=sim to run offline.")
    os.environ["OPENAI_API_KEY"] = key


def use_backend(name: str, **settings: str) -> Backend:
    """Switch backend for this kernel, e.g. use_backend("compatible", LLM_BASE_URL=..., LLM_MODEL=...)."""
    if name not in BACKENDS:
        raise BackendError(f"Unknown backend {name!r}: use one of {', '.join(BACKENDS)}.")
    os.environ["LLM_BACKEND"] = name
    os.environ.update({k: str(v) for k, v in settings.items()})
    return resolve_backend()


def resolve_backend(name: str | None = None) -> Backend:
    """Read LLM_BACKEND and friends (and `.env`) and say where requests will go.

    `name` overrides LLM_BACKEND for this one call, e.g. resolve_backend("local").
    """
    load_env()
    if name is not None and not isinstance(name, str):
        raise BackendError(f"backend must be a name, one of {', '.join(BACKENDS)}; got {name!r:.40}")
    name = (name or os.environ.get("LLM_BACKEND", "sim")).strip().lower() or "sim"
    if name == "sim":
        from .simulator import start_simulator
        srv = start_simulator()
        return Backend("sim", srv.base_url, os.environ.get("LLM_MODEL", "sim"), SIM_KEY)
    if name == "local":
        from .local_model import start_local_server
        srv = start_local_server()
        return Backend("local", srv.base_url, srv.model, "not-needed")
    if name == "openai":
        key = os.environ.get("OPENAI_API_KEY")  # never LLM_API_KEY: that one is for other servers
        if not key:
            raise BackendError("LLM_BACKEND=openai needs OPENAI_API_KEY: add it to .env, call "
                               "ask_for_openai_key(), or use LLM_BACKEND=sim to run offline.")
        # Only OpenAI's own URL (or OPENAI_BASE_URL), never LLM_BASE_URL: a key must not
        # follow a leftover compatible-server URL to another host.
        return Backend("openai", _openai_url(), os.environ.get("LLM_MODEL", DEFAULT_OPENAI_MODEL), key)
    if name == "compatible":
        url, model = os.environ.get("LLM_BASE_URL"), os.environ.get("LLM_MODEL")
        if not url or not model:
            raise BackendError("LLM_BACKEND=compatible needs LLM_BASE_URL (e.g. http://127.0.0.1:8000/v1) "
                               "and LLM_MODEL: set both in .env or the environment.")
        return Backend("compatible", url.rstrip("/"), model, os.environ.get("LLM_API_KEY") or "not-needed")
    raise BackendError(f"Unknown LLM_BACKEND={name!r}: use one of {', '.join(BACKENDS)}.")


def _openai_url() -> str:
    """OPENAI_BASE_URL, but only to OpenAI over HTTPS unless the learner says otherwise:
    a stray .env must not send the OpenAI key to another host, or over plain HTTP."""
    url = os.environ.get("OPENAI_BASE_URL", OPENAI_URL).rstrip("/")
    parts = urlsplit(url)
    if os.environ.get("LLM_ALLOW_OPENAI_URL", "").strip() == "1":
        return url
    if parts.scheme != "https" or parts.hostname != "api.openai.com":
        raise BackendError(f"OPENAI_BASE_URL={url[:80]!r} would send your OpenAI key to another host or "
                           "over plain HTTP: remove it, use LLM_BACKEND=compatible for other servers, "
                           "or set LLM_ALLOW_OPENAI_URL=1 if you really mean it.")
    return url


_checked: set[tuple[str, str, str]] = set()


def check_reachable(b: Backend, timeout_s: float = 5.0) -> None:
    """One quick GET /models: a clear one-line error if the server is down,
    rejects the key, or does not know the model. Checked once per kernel."""
    if (b.base_url, b.model, b.api_key) in _checked:
        return
    try:
        r = httpx.get(b.base_url + "/models", timeout=timeout_s,
                      headers={"Authorization": f"Bearer {b.api_key}"})
    except httpx.HTTPError as e:
        raise BackendError(f"Cannot reach {b.base_url} ({type(e).__name__}): is the server running "
                           "and LLM_BASE_URL right? Or use LLM_BACKEND=sim to run offline.") from None
    if r.status_code in (401, 403):
        raise BackendError(f"{b.base_url} rejected the API key {mask(b.api_key)}: check the key "
                           "(OPENAI_API_KEY or LLM_API_KEY).")
    if r.status_code == 200:
        try:
            ids = [m["id"] for m in r.json().get("data", [])]
        except (ValueError, KeyError, TypeError, AttributeError):
            ids = []
        if ids and b.model not in ids:
            shown = ", ".join(ids[:8]) + (" …" if len(ids) > 8 else "")
            raise BackendError(f"{b.base_url} has no model {b.model!r}: set LLM_MODEL to one of {shown}.")
    _checked.add((b.base_url, b.model, b.api_key))


def stall_limit_s(timeout_s: float, max_retries: int) -> float:
    """The longest a call can wait on a server that stopped answering (lesson 01):
    every attempt waits up to `timeout_s`, and the OpenAI SDK sleeps 0.5 s, 1 s, 2 s, ...
    (at most 8 s) between attempts (openai/_base_client.py, _calculate_retry_timeout)."""
    backoff = sum(min(0.5 * 2 ** i, 8.0) for i in range(max_retries))
    return (max_retries + 1) * timeout_s + backoff


def chat_model(*, backend: str | None = None, server=None, timeout: float | None = None,
               max_retries: int | None = None, check: bool = True, **kwargs):
    """A `ChatOpenAI` for the chosen backend, with safe, explicit settings.

    timeout: seconds to wait for the next bytes of an answer (default LLM_TIMEOUT or
    60); connecting gives up after 5 s. It bounds each wait, not the whole call: a
    stream that keeps sending never times out, and a timed-out attempt is retried.
    max_retries: extra attempts after a 429/5xx/connection error or a timeout
    (default LLM_MAX_RETRIES or 2, the OpenAI SDK's own default). So a server that
    stops answering makes a call fail after at most `stall_limit_s(timeout, max_retries)`
    seconds: about 3 x 60 s + 1.5 s of back-off with the defaults (lesson 01).
    Anything else (temperature, max_tokens, model, default_headers, ...) goes
    straight to ChatOpenAI. backend= picks a backend for this model only
    (e.g. "local" beside the default "sim"); server= points at a particular
    simulator from `start_simulator(...)` (e.g. one with fewer slots) or a local model
    server from `start_local_server(...)` (e.g. one with 1 slot). backend= may also be a
    `Backend` (lesson 00's environment check). Used from lesson 00 on.
    """
    from langchain_openai import ChatOpenAI

    if server is not None and hasattr(server, "n_parallel"):   # a LocalServer
        b = Backend("local", server.base_url, server.model, "not-needed")
    elif server is not None:
        b = Backend("sim", server.base_url, kwargs.pop("model", "sim"), SIM_KEY)
    elif isinstance(backend, Backend):
        b = backend
    else:
        b = resolve_backend(backend)
    if check and b.name in ("openai", "compatible"):
        check_reachable(b)
    try:
        timeout = float(timeout if timeout is not None else os.environ.get("LLM_TIMEOUT", 60))
        retries = max_retries if max_retries is not None else int(os.environ.get("LLM_MAX_RETRIES", 2))
    except (TypeError, ValueError):
        timeout, retries = -1.0, -1
    if not 0 < timeout < float("inf") or isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError("timeout must be a number of seconds > 0 (e.g. 30) and max_retries a whole "
                         "number >= 0 (e.g. 2); also check LLM_TIMEOUT / LLM_MAX_RETRIES")
    key = kwargs.pop("api_key", None)  # on sim it names the caller (limits are per key)
    if key and b.name == "sim":
        b = Backend(b.name, b.base_url, b.model, key)
    settings = {"model": b.model, "temperature": 0, "stream_usage": True,
                "include_response_headers": b.name == "sim", **kwargs}
    if b.name == "local":
        # A 135M model on a CPU: keep answers short, and close each connection
        # (llama.cpp closes it after a stream although it advertises keep-alive).
        settings.setdefault("max_tokens", 128)
        settings["default_headers"] = {"Connection": "close", **(settings.get("default_headers") or {})}
    return ChatOpenAI(base_url=b.base_url, api_key=b.api_key, max_retries=retries,
                      timeout=openai.Timeout(timeout, connect=min(5.0, timeout)), **settings)


def sim_embeddings(base_url: str | None = None, dimensions: int = 1024, **kwargs):
    """The simulator's embeddings (lessons 05-06): hashed bag-of-words vectors, offline.

    Used for retrieval where a backend serves no embeddings (the local model, a compatible
    server without LLM_EMBED_MODEL). base_url: a running simulator (default: start one).
    """
    from langchain_openai import OpenAIEmbeddings

    if base_url is None:
        from .simulator import start_simulator
        base_url = start_simulator().base_url
    return OpenAIEmbeddings(base_url=base_url, api_key=SIM_KEY, model="sim", dimensions=dimensions,
                            check_embedding_ctx_length=False, max_retries=2,
                            timeout=openai.Timeout(60.0, connect=5.0), **kwargs)


def embeddings_model(**kwargs):
    """An `OpenAIEmbeddings` for the chosen backend (lesson 05); never downloads a tokenizer."""
    from langchain_openai import OpenAIEmbeddings

    b = resolve_backend()
    default = "sim" if b.name == "sim" else os.environ.get("LLM_EMBED_MODEL", "text-embedding-3-small")
    model = kwargs.pop("model", default)
    return OpenAIEmbeddings(base_url=b.base_url, api_key=b.api_key, model=model,
                            check_embedding_ctx_length=False, max_retries=2,
                            timeout=openai.Timeout(60.0, connect=5.0), **kwargs)
