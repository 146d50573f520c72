"""Two widgets for lesson 02 (stream): a race between invoke and stream, and a Stop button.

Each widget is a thin skin over a plain function that you can call (and test)
without clicking anything:

    result = race(llm, prompt)                     # -> RaceResult(invoke=..., stream=...)
    stopped = stop_stream(llm, prompt, should_stop=lambda: ..., server=srv)   # -> StopResult

    StreamRace(llm, prompt)                         # a "Race!" button and two live panels
    StoppableStream(llm, prompt, server=srv)        # Start / Stop buttons

The code lives in two modules, one per widget: `stream_race.py` (the race) and
`stream_stop.py` (stopping a stream). This one gathers their names, so lesson 02
writes `stream_widgets.race(...)`. All times are `time.perf_counter()` seconds since
the request was sent, measured by `helpers.timing` (lesson 02 explains them).
"""
from __future__ import annotations

from .stream_race import RaceResult, StreamRace, race
from .stream_stop import StoppableStream, StopResult, _stop_summary, server_change, stop_stream  # noqa: F401

__all__ = ["RaceResult", "race", "StreamRace", "StopResult", "stop_stream", "server_change",
           "StoppableStream"]
# `_stop_summary` (the Stop widget's sentence) stays reachable here for the tests.
