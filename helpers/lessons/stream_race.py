"""Lesson 02's race: the same prompt sent with invoke and with stream at the same moment.

    result = race(llm, prompt)          # -> RaceResult(invoke=..., stream=...), no widget
    StreamRace(llm, prompt)             # a "Race!" button and two live panels over race(...)

All times are `time.perf_counter()` seconds since the request was sent, measured by
`helpers.timing`. The panel drawing (`panel_html`) is shared with `stream_stop`.
Lesson 02 reaches both through `stream_widgets`.
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

__all__ = ["RaceResult", "race", "StreamRace"]

# The course's fixed colours for invoke and stream.
COLORS = {mode: MODE_COLORS[mode] for mode in ("invoke", "stream")}
TextCallback = Callable[[str, float], None]


def panel_html(text: str, mode: str, placeholder: str = "") -> str:
    """One live text panel, edged in the mode's colour (lesson 02's widgets)."""
    body = html.escape(text) if text else f'<span style="color:#888">{placeholder}</span>'
    return (f'<div style="border-left:5px solid {COLORS[mode]};padding:4px 8px;white-space:pre-wrap;'
            f'min-height:120px;font-size:0.9em">{body}</div>')


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
        self.panels = {m: widgets.HTML(panel_html("", m, "press Race!")) for m in COLORS}
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
            self.panels[m].value = panel_html("", m, "waiting…")
            self.watches[m].reset()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _add_text(self, mode: str, text: str, t_s: float) -> None:
        watch = self.watches[mode]
        if watch.first_s is None:
            watch.first_s = t_s
        self.texts[mode] += text
        self.panels[mode].value = panel_html(self.texts[mode], mode)

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
