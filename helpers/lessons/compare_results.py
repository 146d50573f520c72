"""What one comparison of the three modes measured (lesson 04): the results and their spreads.

`run_modes` in `compare` fills these; `compare_verdicts` words them and `compare_plots`
draws them. Seconds since the job started, `time.perf_counter()` stamps.
"""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

MODES = ("invoke", "stream", "batch")
MARKERS = {"invoke": "o", "stream": "^", "batch": "s"}
LOOP = {"invoke": "invoke loop", "stream": "stream loop", "batch": "batch"}

# ---- measuring -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Spread:
    """One number over the repeats: the median and the range, min to max (lesson 04)."""

    median: float
    lo: float
    hi: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        values = list(values)
        return cls(float(statistics.median(values)), float(min(values)), float(max(values)))

    def overlaps(self, other: Spread) -> bool:
        """True when the two ranges share any value: then this run cannot tell them apart."""
        return self.lo <= other.hi and other.lo <= self.hi

    def __str__(self) -> str:
        return f"{_s(self.median)} ({_num(self.lo)}-{_num(self.hi)})"


@dataclass(frozen=True)
class JobRun:
    """One mode doing the whole job once (lesson 04). Seconds since the job started.

    shown_s: per prompt, when its answer began to show (invoke: when it was done;
    stream: its first text; batch: when `batch()` returned the list).
    first_ready_s: batch only, when its quickest request had finished on the wire.
    """

    mode: str
    shown_s: tuple[float, ...]
    all_done_s: float
    completion_tokens: int
    n_errors: int = 0
    first_ready_s: float | None = None

    @property
    def first_text_s(self) -> float:
        return min(self.shown_s)

    @property
    def mean_wait_s(self) -> float:
        return statistics.fmean(self.shown_s)

    @property
    def tokens_per_s(self) -> float:
        """Completion tokens of the answers that came back, per second of the whole job."""
        return self.completion_tokens / self.all_done_s


@dataclass(frozen=True)
class ModeResult:
    """One mode over all the repeats (lesson 04): medians and ranges via `Spread`."""

    mode: str
    runs: tuple[JobRun, ...]

    def spread(self, name: str) -> Spread:
        return Spread.of([getattr(r, name) for r in self.runs])

    @property
    def first_text(self) -> Spread:
        return self.spread("first_text_s")

    @property
    def mean_wait(self) -> Spread:
        return self.spread("mean_wait_s")

    @property
    def all_done(self) -> Spread:
        return self.spread("all_done_s")

    @property
    def tokens_per_s(self) -> Spread:
        return self.spread("tokens_per_s")

    @property
    def n_errors(self) -> int:
        return sum(r.n_errors for r in self.runs)


@dataclass(frozen=True)
class ModeComparison:
    """The three modes on the same job, repeated with the order rotated (lesson 04).

    orders: the order the modes ran in, one tuple per repeat.
    """

    label: str
    max_concurrency: int
    prompts: tuple[str, ...]
    invoke: ModeResult
    stream: ModeResult
    batch: ModeResult
    orders: tuple[tuple[str, ...], ...]
    sample_answer: str

    @property
    def modes(self) -> tuple[ModeResult, ModeResult, ModeResult]:
        return (self.invoke, self.stream, self.batch)

    @property
    def repeats(self) -> int:
        return len(self.orders)

    @property
    def first_ready(self) -> Spread:
        """When batch's quickest request had finished, though `batch()` still held it."""
        return Spread.of([r.first_ready_s for r in self.batch.runs])

    def winner(self, name: str) -> tuple[str, int]:
        """The mode with the lowest median of `name` (e.g. "all_done_s"), and in how many
        repeats it was lowest."""
        best = min(self.modes, key=lambda m: m.spread(name).median).mode
        wins = sum(min(self.modes, key=lambda m: getattr(m.runs[i], name)).mode == best
                   for i in range(self.repeats))
        return best, wins

    def speedup(self) -> Spread:
        """invoke loop's all-done time / batch's, per repeat: how many times sooner batch finished."""
        return Spread.of([i.all_done_s / b.all_done_s for i, b in zip(self.invoke.runs, self.batch.runs)])


def _s(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 0.1 else f"{seconds:.2f} s"


def _num(seconds: float) -> str:
    return _s(seconds)[:-2]
