"""Two widgets for lesson 02 (stream): a race between invoke and stream, and a Stop button.

Each widget is a thin skin over a plain function that you can call (and test)
without clicking anything:

    result = race(llm, prompt)                     # -> RaceResult(invoke=..., stream=...)
    stopped = stop_stream(llm, prompt, should_stop=lambda: ..., server=srv)   # -> StopResult

    StreamRace(llm, prompt)                         # a "Race!" button and two live panels
    StoppableStream(llm, prompt, server=srv)        # Start / Stop buttons

All times are `time.perf_counter()` seconds since the request was sent,
measured by `helpers.timing` (lesson 02 explains them).
"""
from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import ipywidgets as widgets

from ..explain import explain
from ..plots.style import MODE_COLORS
from ..timing import InvokeResult, StreamResult, measure_invoke, measure_stream

__all__ = ["RaceResult", "race", "StreamRace", "StopResult", "stop_stream", "server_change",
           "StoppableStream"]

# The course's fixed colours for invoke and stream.
COLORS = {mode: MODE_COLORS[mode] for mode in ("invoke", "stream")}
TextCallback = Callable[[str, float], None]


# ---- the race: plain function ---------------------------------------------------------------

@dataclass(frozen=True)
class RaceResult:
    """The same prompt sent both ways at the same moment (lesson 02)."""

    invoke: InvokeResult
    stream: StreamResult

    @property
    def first_text_speedup(self) -> float:
        """How many times sooner the first words appeared with stream than with invoke."""
        return self.invoke.total_s / self.stream.ttft_s

    @property
    def total_ratio(self) -> float:
        """stream's total time / invoke's total time (about 1: neither finishes sooner)."""
        return self.stream.total_s / self.invoke.total_s


def race(llm, prompt: str, on_invoke_text: TextCallback | None = None,
         on_stream_text: TextCallback | None = None,
         on_finish: Callable[[str, object], None] | None = None) -> RaceResult:
    """Send `prompt` with `.invoke()` and with `.stream()` at the same moment, in two threads.

    on_invoke_text(text, t_s) is called once, with the whole answer, when invoke returns;
    on_stream_text(text, t_s) for every streamed piece as it arrives;
    on_finish(mode, result) when each side ends ("invoke" or "stream"). Lesson 02.
    """
    start = threading.Barrier(2)

    def run(mode: str):
        start.wait(timeout=10)
        if mode == "invoke":
            result = measure_invoke(llm, prompt)
            if on_invoke_text:
                on_invoke_text(result.text, result.total_s)
        else:
            result = measure_stream(llm, prompt, on_text=on_stream_text)
        if on_finish:
            on_finish(mode, result)
        return result

    with ThreadPoolExecutor(2, thread_name_prefix="race") as pool:
        invoke, stream = pool.submit(run, "invoke"), pool.submit(run, "stream")
        return RaceResult(invoke.result(), stream.result())


# ---- the race: widget -------------------------------------------------------------------------

def _panel_html(text: str, mode: str, placeholder: str = "") -> str:
    body = html.escape(text) if text else f'<span style="color:#888">{placeholder}</span>'
    return (f'<div style="border-left:5px solid {COLORS[mode]};padding:4px 8px;white-space:pre-wrap;'
            f'min-height:120px;font-size:0.9em">{body}</div>')


class _Stopwatch:
    """One side's label: it ticks while waiting, then freezes at first text and at the end."""

    def __init__(self, mode: str):
        self.mode, self.label, self.lock = mode, widgets.Label(), threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.first_s = self.end_s = None
        self.show(0.0)

    def show(self, now_s: float) -> None:
        with self.lock:
            first = "no text yet" if self.first_s is None else f"first text at {self.first_s:.2f} s"
            end = f"⏱ {now_s:.1f} s" if self.end_s is None else f"done at {self.end_s:.2f} s"
            self.label.value = f"{self.mode}: {first} · {end}"


class StreamRace:
    """Lesson 02: one "Race!" button sends the same prompt with invoke and with stream
    at once; two panels fill live, each with a stopwatch. The work is `race(...)`."""

    def __init__(self, llm, prompt: str):
        self.llm, self.prompt = llm, prompt
        self.result: RaceResult | None = None
        self.thread: threading.Thread | None = None
        self.texts = {m: "" for m in COLORS}
        self.button = widgets.Button(description="Race!", button_style="primary", icon="flag-checkered")
        self.panels = {m: widgets.HTML(_panel_html("", m, "press Race!")) for m in COLORS}
        self.watches = {m: _Stopwatch(m) for m in COLORS}
        self.summary, self.log = widgets.HTML(), widgets.Output()
        self.button.on_click(self.log.capture(clear_output=True)(self._on_click))
        columns = [widgets.VBox([self.watches[m].label, self.panels[m]],
                                layout=widgets.Layout(width="50%")) for m in COLORS]
        self.widget = widgets.VBox([self.button, widgets.HBox(columns), self.summary, self.log])

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)

    def _on_click(self, _button=None) -> None:
        self.button.disabled = True
        self.summary.value, self.result = "", None
        self.texts = {m: "" for m in COLORS}
        for m in COLORS:
            self.panels[m].value = _panel_html("", m, "waiting…")
            self.watches[m].reset()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _add_text(self, mode: str, text: str, t_s: float) -> None:
        watch = self.watches[mode]
        if watch.first_s is None:
            watch.first_s = t_s
        self.texts[mode] += text
        self.panels[mode].value = _panel_html(self.texts[mode], mode)

    def _finish(self, mode: str, result) -> None:
        self.watches[mode].end_s = result.total_s
        self.watches[mode].show(result.total_s)

    def _run(self) -> None:
        t0, done = time.perf_counter(), threading.Event()
        ticker = threading.Thread(target=self._tick, args=(t0, done), daemon=True)
        ticker.start()
        try:
            self.result = race(self.llm, self.prompt,
                               lambda s, t: self._add_text("invoke", s, t),
                               lambda s, t: self._add_text("stream", s, t), self._finish)
            r = self.result
            self.summary.value = (f"The stream's first words came <b>{r.first_text_speedup:.1f}× sooner</b> "
                                  f"than invoke's answer; stream total / invoke total = "
                                  f"<b>{r.total_ratio:.2f}</b>.")
        except Exception as e:  # shown in the widget, one line
            self.log.append_stdout(explain(e) + "\n")
        finally:
            done.set()
            ticker.join()
            for watch in self.watches.values():
                watch.show(time.perf_counter() - t0)
            self.button.disabled = False

    def _tick(self, t0: float, done: threading.Event) -> None:
        while not done.wait(0.1):
            for watch in self.watches.values():
                watch.show(time.perf_counter() - t0)


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
        self.panel, self.summary, self.log = widgets.HTML(_panel_html("", "stream", "press Start")), \
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
        self.panel.value = _panel_html("", "stream", "waiting…")
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _on_stop(self, _button=None) -> None:
        self.stop.disabled = True
        self.stop_requested.set()

    def _add_text(self, text: str, _t_s: float) -> None:
        self.text += text
        self.panel.value = _panel_html(self.text, "stream")

    def _run(self) -> None:
        try:
            self.result = stop_stream(self.llm, self.prompt, self.stop_requested.is_set, self._add_text,
                                      self.server, self.full_tokens)
            self.summary.value = _stop_summary(self.result)
        except Exception as e:  # shown in the widget, one line
            self.log.append_stdout(explain(e) + "\n")
        finally:
            self.start.disabled, self.stop.disabled = False, True
