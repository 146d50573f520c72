"""Lesson 03's concurrency sweep: throughput and p95 latency against max_concurrency,
measured with `helpers.timing.measure_batch` and predicted by the latency model, with the
verdict in words, your guess beside the measurement and measured / predicted ratios.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from ..llm_server.latency import Job, Profile, jitter_factor, makespan_s, predict_batch
from ..timing import BatchResult, measure_batch


def _whole(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise ValueError(f"{name} must be a whole number from {lo} to {hi}, got {value!r}")
    return int(value)


def sweep(llm, prompts: list[str], concurrencies=(1, 2, 4, 8, 16, 32),
          progress: bool = False) -> dict[int, BatchResult]:
    """Run the same prompts once per max_concurrency value (lesson 03): {c: BatchResult}.
    progress=True shows a tqdm bar per point ("max_concurrency=8: 24/32 requests") and
    prints each point's result as it lands, so the curve forms while you watch."""
    if not concurrencies:
        raise ValueError("concurrencies must list at least one max_concurrency, e.g. (1, 2, 4)")
    cs = [_whole("max_concurrency", c, 1, 10_000) for c in concurrencies]
    results: dict[int, BatchResult] = {}
    for c in cs:
        if not progress:
            results[c] = measure_batch(llm, prompts, max_concurrency=c)
            continue
        with progress_bar(len(prompts), f"max_concurrency={c}") as tick:
            results[c] = measure_batch(llm, prompts, max_concurrency=c, on_progress=tick)
        print(point_line(c, results[c]), flush=True)
    return results


@contextmanager
def progress_bar(total: int, desc: str, unit: str = "request") -> Iterator[Callable[[int, int], None]]:
    """A tqdm bar named `desc` ("max_concurrency=8: 24/32 requests") and the
    on_progress(done, index) callback that moves it, for `measure_batch` and
    `ameasure_batch` (lesson 03). The callback comes from worker threads; a lock keeps
    the count exact, and the bar shows the highest `done` reported."""
    from tqdm.auto import tqdm

    lock = threading.Lock()
    with tqdm(total=total, desc=desc, unit=unit) as bar:
        def tick(done: int, _index: int) -> None:
            with lock:
                bar.update(max(done - bar.n, 0))

        yield tick


def point_line(c: int, result: BatchResult) -> str:
    """One sweep point in words (lesson 03): what one max_concurrency gave, from the run."""
    flag = "" if result.complete else " (incomplete: not a whole-job rate)"
    return (f"max_concurrency={c}: {result.n_ok}/{len(result.requests)} answers in {result.makespan_s:.2f} s, "
            f"{result.throughput_rps:.2f} answers/s{flag}, p95 {result.p95_latency_s:.2f} s")


def server_profile(server) -> Profile:
    """The exact latency profile a running simulator uses, including overrides such as
    slots=4 and its time scale (lesson 03)."""
    return Profile(**server.config()["profile"])


def jobs_for(result: BatchResult, prompts: list[str], server) -> list[Job]:
    """One latency-model Job per request, from the token counts measured in `result`
    and the simulator's reproducible speed factor for each prompt (lesson 03)."""
    if len(prompts) != len(result.requests):
        raise ValueError(f"{len(prompts)} prompts but {len(result.requests)} requests in the result")
    profile = server_profile(server)
    jobs = []
    for prompt, out, req in zip(prompts, result.outputs, result.requests):
        usage = getattr(out, "usage_metadata", None) or {}
        if not req.ok or "input_tokens" not in usage:
            raise ValueError(f"request {req.index} has no token counts ({req.error}): predict from a clean run")
        jobs.append(Job(usage["input_tokens"], usage["output_tokens"],
                        jitter_factor(profile, server.seed, prompt)))
    return jobs


def predict_sweep(server, results: dict[int, BatchResult], prompts: list[str]) -> dict[int, tuple[float, float]]:
    """The latency model's (throughput_rps, p95_latency_s) for each max_concurrency in
    `results`, for the same requests on the same server (lesson 03)."""
    profile = server_profile(server)
    jobs = jobs_for(next(iter(results.values())), prompts, server)
    out = {}
    for c in results:
        preds = predict_batch(profile, jobs, c)
        out[c] = (len(jobs) / makespan_s(preds), float(np.percentile([p.latency_s for p in preds], 95)))
    return out


def plateau(results: dict[int, BatchResult], within: float = 0.10) -> int:
    """The smallest max_concurrency whose answers/s is within `within` (10 %) of the best
    measured in `results` (lesson 03): where throughput stopped rising, in this run."""
    if not results:
        raise ValueError("results must hold at least one run, e.g. batch_lab.sweep(...)")
    complete = {c: r for c, r in results.items() if r.complete} or results   # an incomplete job can't win
    best = max(r.throughput_rps for r in complete.values())
    return min(c for c, r in complete.items() if r.throughput_rps >= (1 - within) * best)


def sweep_verdict(results: dict[int, BatchResult], within: float = 0.10) -> str:
    """What the sweep measured, in words computed from `results` (lesson 03), e.g.
    "throughput rose 3.9x from max_concurrency 1 to 4, then changed by less than 10 % up to 32"."""
    cs = sorted(results)
    rps = {c: results[c].throughput_rps for c in cs}
    knee, first, last = plateau(results, within), cs[0], cs[-1]
    if knee == first:
        words = f"throughput stayed within {within * 100:.0f} % of its best from max_concurrency {first} on"
    else:
        words = f"throughput rose {rps[knee] / rps[first]:.1f}x from max_concurrency {first} to {knee}"
    after = [rps[c] / rps[knee] - 1 for c in cs if c > knee]
    if knee != first and not after:
        words += ", the last setting measured: it may rise further"
    elif after and max(abs(a) for a in after) < within:
        words += f", then changed by less than {within * 100:.0f} % up to {last}"
    elif after:
        words += (f", then changed by {after[-1] * 100:+.0f} % by {last} "
                  f"(at most {max(after, key=abs) * 100:+.0f} % on the way)")
    p95 = {c: results[c].p95_latency_s for c in cs}
    words += (f"; p95 latency {p95[first]:.2f} s at {first}, {p95[knee]:.2f} s at {knee}, "
              f"{p95[last]:.2f} s at {last}")
    errors = sum(r.n_errors for r in results.values())
    incomplete = [c for c in cs if not results[c].complete]
    if not errors:
        return words
    return words + (f"; {errors} failed requests (not counted as answers); incomplete at max_concurrency "
                    f"{', '.join(map(str, incomplete))}, so those rates are not whole-job rates")


def compare_guess(guess, measured: float, what: str, unit: str = "") -> str:
    """Your guess beside the measurement (lesson 03): "you guessed 8, measured 4 (...)".
    A guess still left as `____` says so instead."""
    from ..quiz import _Blank

    if isinstance(guess, _Blank) or guess is None:
        return f"no guess typed (replace ____ to compare) | measured {what}: {measured:g}{unit}"
    if isinstance(guess, bool) or not isinstance(guess, (int, float, np.integer, np.floating)):
        raise ValueError(f"the guess must be a number, e.g. 4, got {guess!r:.40}")
    return f"you guessed {guess:g}{unit} | measured {what}: {measured:g}{unit}"


def ratios(results: dict[int, BatchResult], predicted: dict[int, tuple[float, float]]) -> str:
    """A small table of measured / predicted answers per second and p95 latency (lesson 03).

    On the simulator this is a self-consistency check: the simulator runs this very latency
    model, so a ratio near 1.00 says the server does what its model says, not that the model
    is right about real servers."""
    lines = ["max_concurrency  answers/s meas/pred  p95 latency meas/pred  errors"]
    for c in sorted(results):
        rps, p95 = predicted[c]
        lines.append(f"{c:>15}  {results[c].throughput_rps / rps:>19.2f}  "
                     f"{results[c].p95_latency_s / p95:>21.2f}  {results[c].n_errors:>6}")
    return "\n".join(lines)
