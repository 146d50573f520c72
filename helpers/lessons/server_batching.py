"""Server-side batching on a real model: llama.cpp's slots (lesson 03, section 5).

`.batch()` only decides how many requests are *in flight*. Whether the server
works on them at the same time is the server's business: llama.cpp has
`n_parallel` slots and decodes the active ones together (continuous batching).

`local_slots_sweep()` measures tokens/s of the real SmolLM2 model for each
(`n_parallel`, `max_concurrency`) pair, repeated, within a time budget that it
sizes from one request timed alone. `slots_figure()` draws the medians and the
spread, with two reference lines computed from the same run: "no gain" (the
tokens/s of one request at a time) and "ideal batching" (that times the number
of requests the slots can hold). They are bounds, not a prediction.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

from ..timing import BatchResult, measure_batch
from .server_batching_plot import slots_figure  # noqa: F401  (the lesson calls server_batching.slots_figure)

MAX_TOKENS = 8   # short answers: each request is a few decode steps after its prompt
# Every tokens/s here is output tokens / the whole request time, so it includes prefill and HTTP.
PREFILL_NOTE = "counting the whole request (prefill and HTTP too, not just decoding)"


@dataclass(frozen=True)
class SlotsSweep:
    """The measurements of `local_slots_sweep` (lesson 03). Times in seconds.

    runs maps (n_parallel, max_concurrency) to one BatchResult per repeat.
    single_s, single_tokens_per_s: one warm request timed alone, before the sweep;
    the sweep's size (n_prompts, max_tokens) and timeout_s were derived from it.
    """

    runs: dict[tuple[int, int], tuple[BatchResult, ...]]
    single_s: float
    single_tokens_per_s: float
    n_prompts: int
    max_tokens: int
    repeats: int
    timeout_s: float
    budget_s: float
    estimate_s: float
    elapsed_s: float
    n_threads: int
    weights_mb: float
    notes: tuple[str, ...] = field(default=())
    start_s: float = 0.0       # starting one server and warming it up (s), for sizing a later cell
    total_s: float = 0.0       # the whole call: servers, warm-ups, timing one request, runs
    plan_text: str = ""        # how the last call was sized and how long it took (see plan())

    def tokens_per_s(self, n_parallel: int, max_concurrency: int) -> list[float]:
        """Tokens/s of each repeat, in the order they ran."""
        return [r.tokens_per_s for r in self.runs[n_parallel, max_concurrency]]

    def median(self, n_parallel: int, max_concurrency: int) -> float:
        return statistics.median(self.tokens_per_s(n_parallel, max_concurrency))

    def gains(self, n_parallel: int, max_concurrency: int) -> list[float]:
        """Per repeat: tokens/s at this max_concurrency / tokens/s at the smallest one, same server.
        Repeats ran interleaved, so each ratio compares runs made close together."""
        base = min(c for p, c in self.runs if p == n_parallel)
        return [a / b for a, b in zip(self.tokens_per_s(n_parallel, max_concurrency),
                                       self.tokens_per_s(n_parallel, base))]

    def gain(self, n_parallel: int, max_concurrency: int) -> float:
        """Median tokens/s at this max_concurrency / median at the smallest one, same server
        (the ratio the figure shows; `gains` gives the spread)."""
        base = min(c for p, c in self.runs if p == n_parallel)
        return self.median(n_parallel, max_concurrency) / self.median(n_parallel, base)

    @property
    def n_errors(self) -> int:
        return sum(r.n_errors for rs in self.runs.values() for r in rs)

    @property
    def one_in_flight_tokens_per_s(self) -> float:
        """Median tokens/s with one request in flight on the smallest server: the figure's first point."""
        return self.median(min(p for p, _ in self.runs), min(c for _, c in self.runs))

    @property
    def weights_gb_per_s(self) -> float:
        """How fast the weights were read with one request in flight: every token reads all of them
        once, so this is weights x tokens/s (a lower bound: prompt reading is counted as time too)."""
        return self.weights_mb / 1000 * self.one_in_flight_tokens_per_s

    def weights_line(self) -> str:
        """The weight-read rate in words, with the same tokens/s as the figure's first point and
        the same caveat as the plan's "one request alone": prefill is in the time (lesson 03)."""
        tps = self.one_in_flight_tokens_per_s
        return (f"with one request in flight (the figure's first point), the model wrote {tps:.0f} tokens/s "
                f"{PREFILL_NOTE}; each token it writes reads all {self.weights_mb:.0f} MB of its weights, "
                f"so it read them at least {tps:.0f} times a second: at least {self.weights_gb_per_s:.1f} GB/s")

    def plan(self) -> str:
        """How the last call was sized, its estimate, and how long it really took, in words."""
        if self.plan_text:
            return self.plan_text
        cells = len(self.runs)
        lines = [f"one request alone: {self.single_s:.2f} s, "
                 f"{self.single_tokens_per_s:.0f} tokens/s {PREFILL_NOTE} "
                 f"(llama.cpp on {self.n_threads} CPU thread{'s' * (self.n_threads != 1)})",
                 f"so: {cells} settings x {self.repeats} repeats x {self.n_prompts} prompts of at most "
                 f"{self.max_tokens} tokens, estimated {self.estimate_s:.0f} s for a budget of "
                 f"{self.budget_s:.0f} s; per-request timeout {self.timeout_s:.0f} s",
                 *self.notes,
                 f"the sweep's runs took {self.elapsed_s:.0f} s, {self.n_errors} failed requests"]
        return "\n".join(lines)

    def verdict(self) -> str:
        """For each server: the gain from the most requests in flight, median and range over repeats."""
        lines = []
        for n_par in sorted({p for p, _ in self.runs}):
            cs = sorted(c for p, c in self.runs if p == n_par)
            g = self.gains(n_par, cs[-1])
            ideal = min(cs[-1], n_par) / min(cs[0], n_par)
            lines.append(f"{n_par} slot{'s' * (n_par != 1)}: {cs[-1]} in flight gave "
                         f"{self.gain(n_par, cs[-1]):.2f}x the tokens/s of {cs[0]} in flight "
                         f"(medians of {len(g)} repeats; repeat by repeat {min(g):.2f}-{max(g):.2f}x; "
                         f"ideal batching: at most {ideal:.0f}x)")
            if min(g) < 1 < max(g):
                lines[-1] += ": no clear gain, some repeats above 1x and some below"
            elif max(g) <= 1:
                lines[-1] += f": {cs[-1]} in flight were no faster than {cs[0]} in every repeat"
            elif ideal > 1:
                way = (self.gain(n_par, cs[-1]) - 1) / (ideal - 1)
                lines[-1] += f": faster in every repeat, {way:.0%} of the way from no gain to ideal"
            else:
                lines[-1] += (": faster in every repeat, although one slot cannot batch: with requests"
                              " waiting, the gaps between them (the client sending the next one, the"
                              " server parsing it) overlap with decoding, so the slot is never idle")
        return "\n".join(lines)


def _size(single_s: float, cells: int, repeats: int, budget_s: float, min_prompts: int,
          max_prompts: int, fixed_s: float = 0.0) -> tuple[int, float, tuple[str, ...]]:
    """How many prompts per run fit the budget, and the estimated time of the whole cell:
    `fixed_s` (starting servers, warm-ups, timing one request: measured or estimated) plus the
    runs. The runs' estimate takes every request to cost as much as one alone (no gain from
    batching), which is what a CPU with few cores shows. Never fewer prompts than the most
    requests in flight, or slots sit idle."""
    n = int(max(0.0, budget_s - fixed_s) // (cells * repeats * single_s))
    n = max(min_prompts, min(max_prompts, n))
    estimate = fixed_s + cells * repeats * n * single_s
    notes = ()
    if estimate > budget_s:
        notes = (f"over the budget: even the smallest useful sweep ({cells} settings x {repeats} repeats x "
                 f"{min_prompts} prompts) needs about {estimate:.0f} s on this machine right now (is the "
                 f"CPU busy?); it runs anyway, and the timeout allows for it",)
    return n, estimate, notes


_COLD_START_S = [0.0]     # the slowest server start + warm-up seen in this process (s)


def _start(n_parallel: int, prompt: str) -> tuple[object, float]:
    """Start (or reuse) a llama.cpp server with n_parallel slots and warm it up; its time (s)."""
    from ..backends.local_model import start_local_server

    t = time.perf_counter()
    srv = start_local_server(n_parallel=n_parallel)
    measure_batch(chat_model_for(srv, MAX_TOKENS, 60), [prompt], 1)     # warm-up: load, first allocation
    took = time.perf_counter() - t
    _COLD_START_S[0] = max(_COLD_START_S[0], took)
    return srv, took


def local_slots_sweep(n_parallels=(1, 4), concurrencies=(1, 4), repeats: int = 3,
                      budget_s: float = 20.0, max_prompts: int = 8,
                      progress: bool = True, after: SlotsSweep | None = None) -> SlotsSweep:
    """Tokens/s of the real local model for each (n_parallel, max_concurrency), `repeats` times
    (lesson 03).

    `budget_s` is for the whole call: starting servers, warm-ups, timing one request alone, the
    runs. The first server (the most slots) is started and one request timed alone on it; that
    sets the size: as many prompts (at least max(concurrencies), at most `max_prompts`) as fit,
    and the per-request timeout. If even the smallest sweep would take over 1.5x the budget, the
    other servers (the controls) are left out and the plan says so. Repeats run interleaved, in
    alternating order, so a busy moment of the CPU hits every setting alike.

    after: a sweep from an earlier call (an earlier cell). This call adds the servers of
    `n_parallels` it lacks, with its prompts, size, repeats and timeout, and returns both
    together; if they would take over 1.5x the budget, it leaves them out and says so.
    """
    from ..backends.local_model import default_threads, gguf_path

    _check(n_parallels, "n_parallels", "(1, 4)")
    _check(concurrencies, "concurrencies", "(1, 4)")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a whole number >= 1, e.g. 3; got {repeats!r}")
    if isinstance(budget_s, bool) or not isinstance(budget_s, (int, float)) or not budget_s > 0:
        raise ValueError(f"budget_s must be a number of seconds > 0, e.g. 20; got {budget_s!r}")
    if after is not None and not isinstance(after, SlotsSweep):
        raise ValueError(f"after must be the result of an earlier local_slots_sweep, got {type(after).__name__}")
    t_call, prompt = time.perf_counter(), "Name one use of a lamp, number 0."
    servers: dict = {}
    if after is None:
        main = max(n_parallels)
        servers[main], start_s = _start(main, prompt)
        first = chat_model_for(servers[main], MAX_TOKENS, 60)
        # timed twice, and the slower one sizes the sweep: one sample on a busy CPU is often a lucky one
        alone = max((measure_batch(first, [prompt], 1) for _ in range(2)), key=lambda r: r.makespan_s)
        if alone.n_errors:
            raise RuntimeError(f"the local model did not answer a single request: {alone.requests[0].error}")
        single_s, single_tps, n_pars = alone.makespan_s, alone.tokens_per_s, sorted(n_parallels)
        start_s = max(start_s, _COLD_START_S[0])
        spent = time.perf_counter() - t_call
        size = (repeats, budget_s, max(concurrencies), max(max_prompts, max(concurrencies)))
        n, estimate, notes = _size(single_s, len(n_pars) * len(concurrencies), *size,
                                   spent + (len(n_pars) - 1) * start_s)
        if estimate > 1.5 * budget_s and len(n_pars) > 1:  # slow right now: keep the main comparison
            left_out = ", ".join(str(q) for q in n_pars if q != main)
            n_pars = [main]
            n, estimate, notes = _size(single_s, len(concurrencies), *size, spent)
            notes = (f"slow right now: only the {main}-slot server is measured; the {left_out}-slot "
                     f"control is left out to stay near the budget",) + notes
        timeout_s = max(30.0, 5 * n * single_s)            # the last in a 1-slot queue waits for n
        concurrencies, old_runs = tuple(concurrencies), {}
    else:
        single_s, single_tps, n, repeats = after.single_s, after.single_tokens_per_s, after.n_prompts, after.repeats
        timeout_s, old_runs = after.timeout_s, dict(after.runs)
        concurrencies = tuple(sorted({c for _, c in after.runs}))
        n_pars = [q for q in sorted(n_parallels) if q not in {p for p, _ in after.runs}]
        if not n_pars:                                   # a cell run twice: nothing new to measure
            return _replace(after, plan_text=f"nothing to add: the sweep already has the {_slots(n_parallels)}")
        start_s = max(after.start_s, _COLD_START_S[0])
        estimate = len(n_pars) * (start_s + len(concurrencies) * repeats * n * single_s)
        notes = ()
        if estimate > 1.5 * budget_s:
            skipped = ", ".join(f"{q}-slot" for q in n_pars)
            note = (f"left out: the {skipped} server would take about {estimate:.0f} s here, over 1.5x the "
                    f"budget of {budget_s:.0f} s (is the CPU busy?); the figure shows the earlier servers only")
            return _replace(after, plan_text=note, estimate_s=estimate, elapsed_s=0.0,
                            total_s=time.perf_counter() - t_call, budget_s=float(budget_s))
        if estimate > budget_s:
            notes = (f"over the budget: this control needs about {estimate:.0f} s on this machine right now; "
                     f"it runs anyway",)
    for q in n_pars:
        if q not in servers:
            servers[q], took = _start(q, prompt)
    cells = [(q, c) for q in n_pars for c in concurrencies]
    setup_s = time.perf_counter() - t_call
    prompts = [f"Name one use of a lamp, number {i}." for i in range(n)]
    llms = {q: chat_model_for(servers[q], MAX_TOKENS, timeout_s) for q in n_pars}
    runs: dict[tuple[int, int], list[BatchResult]] = {cell: [] for cell in cells}
    bar = _bar(len(cells) * repeats, progress)
    t_start = time.perf_counter()
    for rep in range(repeats):
        for p, c in cells if rep % 2 == 0 else cells[::-1]:
            runs[p, c].append(measure_batch(llms[p], prompts, c))
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    elapsed, total = time.perf_counter() - t_start, time.perf_counter() - t_call
    errors = sum(r.n_errors for rs in runs.values() for r in rs)
    what = "so" if after is None else "added"
    text = "\n".join([
        *([f"one request alone: {single_s:.2f} s, {single_tps:.0f} tokens/s {PREFILL_NOTE} (llama.cpp on "
           f"{default_threads()} CPU thread{'s' * (default_threads() != 1)})"] if after is None else []),
        f"{what}: {len(cells)} settings ({', '.join(_label(p, c) for p, c in cells)}) x"
        f" {repeats} repeats x {n} prompts of at most {MAX_TOKENS} tokens; per-request timeout {timeout_s:.0f} s",
        f"estimated {estimate:.0f} s for this cell (servers, warm-ups and every request as slow as one "
        f"alone) for a budget of {budget_s:.0f} s",
        *notes,
        f"this cell took {total:.0f} s (estimated {estimate:.0f} s): {setup_s:.0f} s starting and warming up, "
        f"{elapsed:.0f} s of runs; {errors} failed requests"])
    return SlotsSweep({**old_runs, **{k: tuple(v) for k, v in runs.items()}}, single_s, single_tps, n,
                      MAX_TOKENS, repeats, timeout_s, float(budget_s), estimate, elapsed,
                      default_threads(), gguf_path().stat().st_size / 1e6, tuple(notes),
                      start_s=start_s, total_s=total, plan_text=text)


def _slots(n_parallels) -> str:
    return " and ".join(f"{q}-slot" for q in sorted(n_parallels)) + " server" + "s" * (len(n_parallels) != 1)


def _label(n_parallel: int, c: int) -> str:
    return f"{n_parallel} slot{'s' * (n_parallel != 1)}, {c} in flight"


def _replace(sweep: SlotsSweep, **kw) -> SlotsSweep:
    import dataclasses

    return dataclasses.replace(sweep, **kw)


def _check(values, name: str, example: str) -> None:
    ok = isinstance(values, (tuple, list)) and values and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values)
    if not ok or len(set(values)) != len(values):
        raise ValueError(f"{name} must list different whole numbers >= 1, e.g. {example}; got {values!r}")


def _bar(total: int, progress: bool):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="slots sweep (runs)")


def chat_model_for(srv, max_tokens: int, timeout_s: float = 120):
    """A ChatOpenAI for one particular local llama.cpp server (lesson 03)."""
    from ..backends import chat_model

    return chat_model(server=srv, timeout=timeout_s, max_retries=0, max_tokens=max_tokens)
