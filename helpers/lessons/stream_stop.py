"""Lesson 02's Stop button: stream an answer, stop it mid-way, and see what stopping saved.

    stopped = stop_stream(llm, prompt, should_stop=lambda: ..., server=srv)   # -> StopResult, no widget
    change = server_change(srv, before)    # how the simulator's counters grew since `before`
    StoppableStream(llm, prompt, server=srv)                                  # Start / Stop buttons

Lesson 02 reaches these through `stream_widgets`.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import ipywidgets as widgets

from ..explain import explain
from ..timing import StreamResult, measure_stream
from .stream_race import TextCallback, panel_html

__all__ = ["StopResult", "stop_stream", "server_change", "StoppableStream"]


# ---- stopping a stream: plain functions -------------------------------------------------------

CHANGE_KEYS = ("attempts", "completed", "cancelled", "completion_tokens", "cancelled_tokens",
               "tokens_after_disconnect", "in_flight")


def server_change(server, before: dict, timeout_s: float = 30.0) -> dict:
    """How much the simulator's counters grew since `before` (a `server.stats()` dict).

    It first waits (up to timeout_s) until the requests started since `before`
    have left the server, so a request can no longer add tokens (lesson 02).
    completion_tokens is what the server wrote; cancelled_tokens the part of it
    for requests whose client hung up; tokens_after_disconnect what it wrote
    after it saw the client go (0 for a server that stops at once).
    """
    deadline = time.perf_counter() + timeout_s
    now = server.stats()
    while now["in_flight"] > before["in_flight"] and time.perf_counter() < deadline:
        time.sleep(0.01)
        now = server.stats()
    return {k: now[k] - before[k] for k in CHANGE_KEYS}


@dataclass(frozen=True)
class StopResult:
    """One stream that may have been stopped early (lesson 02).

    tokens_received counts the pieces with text (one token each on the simulator).
    full_tokens is the length of the whole answer, if known. server_tokens (written,
    so billable, read or not), server_cancelled and server_after_disconnect are what
    the simulator counted for this request (None elsewhere).
    """

    stream: StreamResult
    tokens_received: int
    full_tokens: int | None
    server_tokens: int | None
    server_cancelled: int | None
    server_after_disconnect: int | None = None

    @property
    def tokens_not_generated(self) -> int | None:
        """Tokens of the full answer that were never written: a server that stopped
        cannot bill them. Tokens written but never read are billed all the same."""
        if self.full_tokens is None:
            return None
        made = self.server_tokens if self.server_tokens is not None else self.tokens_received
        return max(self.full_tokens - made, 0)


def stop_stream(llm, prompt: str, should_stop: Callable[[], bool], on_text: TextCallback | None = None,
                server=None, full_tokens: int | None = None) -> StopResult:
    """Stream `prompt` until should_stop() says True, via `measure_stream` (lesson 02).

    Stopping closes the connection; whether the server then stops generating is up
    to the server. Pass the simulator (`server=start_simulator()`) to see what it
    wrote and whether it saw the cancel; pass full_tokens (e.g. an invoke's
    completion_tokens) to see what was never written.
    """
    before = server.stats() if server is not None else None
    result = measure_stream(llm, prompt, on_text=on_text, should_stop=should_stop)
    received = sum(1 for text in result.chunk_texts if text)
    if full_tokens is None and not result.stopped_early:
        full_tokens = result.completion_tokens or received
    change = server_change(server, before) if server is not None else {}
    return StopResult(result, received, full_tokens, change.get("completion_tokens"),
                      change.get("cancelled"), change.get("tokens_after_disconnect"))


def _stop_summary(r: StopResult) -> str:
    if not r.stream.stopped_early:
        return f"You let it finish: all {r.tokens_received} tokens were generated and billed."
    parts = [f"Stopped at {r.stream.total_s:.2f} s after <b>{r.tokens_received}</b> tokens"]
    if r.full_tokens is not None:
        parts[0] += f" of {r.full_tokens}"
    if r.server_tokens is not None:
        parts.append(f"the server wrote {r.server_tokens} (billed, read or not; "
                     f"{r.server_after_disconnect} after it saw you go)")
    if r.tokens_not_generated is not None:
        parts.append(f"<b>{r.tokens_not_generated} tokens never generated</b>")
    return "; ".join(parts) + "."


# ---- stopping a stream: widget ----------------------------------------------------------------

class StoppableStream:
    """Lesson 02: Start streams the answer into a panel; Stop cancels it mid-way.
    Afterwards it says how many tokens arrived and what stopping saved. The work is `stop_stream(...)`."""

    def __init__(self, llm, prompt: str, server=None, full_tokens: int | None = None):
        self.llm, self.prompt, self.server, self.full_tokens = llm, prompt, server, full_tokens
        self.result: StopResult | None = None
        self.thread: threading.Thread | None = None
        self.stop_requested, self.text = threading.Event(), ""
        self.start = widgets.Button(description="Start", button_style="primary", icon="play")
        self.stop = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.panel, self.summary, self.log = widgets.HTML(panel_html("", "stream", "press Start")), \
            widgets.HTML(), widgets.Output()
        self.start.on_click(self.log.capture(clear_output=True)(self._on_start))
        self.stop.on_click(self.log.capture()(self._on_stop))
        self.widget = widgets.VBox([widgets.HBox([self.start, self.stop]), self.panel, self.summary, self.log])

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)

    def _on_start(self, _button=None) -> None:
        self.start.disabled, self.stop.disabled = True, False
        self.stop_requested.clear()
        self.text, self.result, self.summary.value = "", None, ""
        self.panel.value = panel_html("", "stream", "waiting…")
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _on_stop(self, _button=None) -> None:
        self.stop.disabled = True
        self.stop_requested.set()

    def _add_text(self, text: str, _t_s: float) -> None:
        self.text += text
        self.panel.value = panel_html(self.text, "stream")

    def _run(self) -> None:
        try:
            self.result = stop_stream(self.llm, self.prompt, self.stop_requested.is_set, self._add_text,
                                      self.server, self.full_tokens)
            self.summary.value = _stop_summary(self.result)
        except Exception as e:  # shown in the widget, one line
            self.log.append_stdout(explain(e) + "\n")
        finally:
            self.start.disabled, self.stop.disabled = False, True
