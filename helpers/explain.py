"""Turn the errors learners meet into one line: what happened, what to do (all lessons).

In Jupyter, importing `helpers` installs `show_error` for these error types,
so a failed cell prints one line instead of a 40-line traceback (`%tb` still
shows the full one). Secrets are masked in every message.
"""
from __future__ import annotations

import contextlib
import io
import os
import re

import openai

from .backends import mask
from .errors import CourseError

EXPLAINED = (CourseError, openai.APIError)


KEY_LIKE = re.compile(r"\b(?:sk|rk|pk)-[A-Za-z0-9_\-]{8,}")


def _redact(text: str) -> str:
    """Mask the configured keys and anything shaped like an OpenAI key (sk-...)."""
    for var in ("OPENAI_API_KEY", "LLM_API_KEY"):
        key = os.environ.get(var)
        if key and len(key) > 6:
            text = text.replace(key, mask(key))
    return KEY_LIKE.sub(lambda m: mask(m.group(0)), text)


def explain(exc: BaseException) -> str:
    """One line for a learner: what happened, then what to do. Never raises: it runs
    inside IPython's error handler, which would switch itself off if it did."""
    try:
        return _explain(exc)
    except Exception:  # noqa: BLE001 -- e.g. an exception whose __str__ fails
        return f"{type(exc).__name__} (its message could not be shown; %tb shows the traceback)"


def _explain(exc: BaseException) -> str:
    text = _redact(str(exc))              # redact the whole message first, then cut it
    msg = text.splitlines()[0] if text else type(exc).__name__
    if isinstance(exc, CourseError):
        line = msg
    elif isinstance(exc, openai.APITimeoutError):
        line = ("The request timed out: the server is slow or stalled. Raise `timeout=` "
                "if answers are just long, or check the server.")
    elif isinstance(exc, openai.APIConnectionError):
        line = _connection_advice()
    elif isinstance(exc, openai.RateLimitError) and "insufficient_quota" in text:
        line = ("Out of quota or credit (HTTP 429 insufficient_quota): retrying will not help; "
                "check your plan and billing, or use LLM_BACKEND=sim to run offline.")
    elif isinstance(exc, openai.RateLimitError):
        line = (f"Rate limited (HTTP 429) and no retries were left: lower max_concurrency, add a "
                f"rate_limiter, or raise max_retries. Server said: {msg[:160]}")
    elif isinstance(exc, openai.AuthenticationError):
        line = "The server rejected the API key: check OPENAI_API_KEY / LLM_API_KEY (in .env)."
    elif isinstance(exc, openai.NotFoundError):
        line = f"Not found (404), often a wrong model name: check LLM_MODEL. Server said: {msg[:160]}"
    elif isinstance(exc, openai.APIStatusError):
        line = f"The server answered HTTP {exc.status_code}: {msg[:200]}"
    else:
        line = f"{type(exc).__name__}: {msg[:200]}"
    return _redact(line)


def _connection_advice() -> str:
    if os.environ.get("LLM_BACKEND", "sim") in ("sim", ""):
        from .backends.simulator import _alive, _running, start_simulator
        dead = [k for k, (proc, srv) in list(_running.items()) if not _alive(proc, srv.base_url)]
        if _running and not dead:  # e.g. X-Sim-Fault: drop; the server itself is fine
            return "The connection to the simulator broke off mid-answer: run the cell again."
        if dead:  # restart what was running, on the same port, so the cell can simply be re-run
            try:
                with contextlib.redirect_stdout(io.StringIO()):  # this line says it: one line, not two
                    for key in dead:
                        profile, scale, seed, extra = key
                        start_simulator(profile, scale, seed, **dict(extra))
            except CourseError as e:  # never raise from inside the error handler
                return str(e)
            return "The simulator had stopped; it is running again on the same port: run the cell again."
        return "Could not reach the simulator: run the setup cell (chat_model()) again."
    return ("Could not reach the server: is it running, and is LLM_BASE_URL right? "
            "Use LLM_BACKEND=sim to work offline.")


def show_error(shell, etype, evalue, tb, tb_offset=None):
    """IPython custom exception handler: the cell fails with a one-line explanation.

    Returning it as the (one-line) traceback keeps it a real error output, so the
    cell still counts as failed (Run All stops, nbval reports it)."""
    stb = [f"\x1b[31m✘ {type(evalue).__name__}: {explain(evalue)}\x1b[0m  (full traceback: %tb)"]
    with contextlib.suppress(Exception):  # never raise here: IPython would drop the handler
        shell._showtraceback(etype, evalue, stb)  # ipykernel sends it as the cell's error output
    return stb


def install() -> None:
    """Install the one-line handler in the running IPython kernel, if any."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is not None:
        ip.set_custom_exc(EXPLAINED, show_error)
