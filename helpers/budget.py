"""Size an experiment to the speed of *your* backend (lessons 03-05).

The same lesson runs on a simulated hosted API, on a 135M-parameter model on
your own CPU, and on OpenAI. A cell that sends 24 long prompts takes 10 s on
one and 5 minutes on another. So a long experiment first measures how fast
the backend is, then picks how much work fits a time budget, and says so:

    speed = measure_speed(llm)          # two short streams, about 1-4 s
    plan = plan_batch(speed, n_wanted=12, prompt_tokens=1100, output_tokens=200,
                      max_concurrency=4)
    print(plan)                         # e.g. "local model ...: 3 of 12 questions, ..."

`plan.timeout_s` is derived from the expected work (a few times the expected
seconds per request), so a slow CPU gets a longer per-request timeout and a
stalled server still fails in a bounded time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .timing import measure_stream

CHARS_PER_TOKEN = 4.0        # a rough rule for English text; good enough for sizing
SAFETY = 4.0                 # timeout = SAFETY x expected seconds per request
MIN_TIMEOUT_S = 15.0
_SHORT = "Say hello."
_LONG = "Summarise this support note in one sentence. " + (
    "The Lumen lamp comes with a three-year warranty; returns are accepted within "
    "45 days, and firmware updates install at 03:00. ") * 12
_cache: dict[tuple, Speed] = {}


def estimate_tokens(text: str) -> int:
    """A rough token count for sizing only (about 4 characters per token); never for billing."""
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


@dataclass(frozen=True)
class Speed:
    """How fast one backend answered, measured in this run (lessons 03-05).

    first_token_s: time to first text for a tiny prompt (network + overhead).
    prompt_tokens_per_s: how fast it reads a prompt (prefill), from two prompt lengths.
    output_tokens_per_s: how fast one answer is written (decode), once it has started.
    one_at_a_time: True where the backend runs one request at a time whatever you
    send (the local model on one CPU thread), so concurrency cannot help.
    """

    backend: str
    first_token_s: float
    prompt_tokens_per_s: float
    output_tokens_per_s: float
    one_at_a_time: bool

    def seconds_for(self, prompt_tokens: float, output_tokens: float) -> float:
        """Expected seconds for one request alone: first token + reading + writing."""
        return (self.first_token_s + prompt_tokens / self.prompt_tokens_per_s
                + output_tokens / self.output_tokens_per_s)

    def __str__(self) -> str:
        read = ("reads prompts too fast to measure" if math.isinf(self.prompt_tokens_per_s)
                else f"reads prompts at {self.prompt_tokens_per_s:,.0f} tokens/s")
        return (f"{self.backend}: first text after {self.first_token_s:.2f} s, "
                f"{read}, writes {self.output_tokens_per_s:,.0f} tokens/s (measured just now)")


def measure_speed(llm, backend: str | None = None, refresh: bool = False) -> Speed:
    """Measure `llm` with two short streams (a tiny and a ~350-token prompt); cached per model.

    backend: the name to show (default: read from LLM_BACKEND via resolve_backend()).
    """
    from .backends import resolve_backend

    name = backend or resolve_backend().name
    key = (name, getattr(llm, "openai_api_base", None), getattr(llm, "model_name", None))
    if key in _cache and not refresh:
        return _cache[key]
    probe = llm.bind(max_tokens=24)
    measure_stream(probe, _SHORT)   # warm-up: connection, first-call setup
    short, long = measure_stream(probe, _SHORT), measure_stream(probe, _LONG)
    speed = speed_from(name, short.ttft_s, long.ttft_s,
                       _tokens(short.prompt_tokens, _SHORT), _tokens(long.prompt_tokens, _LONG),
                       [r.tokens_per_s for r in (short, long)])
    _cache[key] = speed
    return speed


def _tokens(counted: int | None, text: str) -> int:
    return counted if counted else estimate_tokens(text)


def speed_from(backend: str, ttft_short_s: float, ttft_long_s: float, tokens_short: int,
               tokens_long: int, decode_rates: list[float]) -> Speed:
    """Turn two measured streams into a Speed (pure; tested on hand-made numbers)."""
    extra_s, extra_tokens = ttft_long_s - ttft_short_s, tokens_long - tokens_short
    # A difference lost in jitter means prefill is too fast to see: treat it as free.
    prefill = extra_tokens / extra_s if extra_s > 0.01 and extra_tokens > 0 else math.inf
    rates = [r for r in decode_rates if r > 0 and math.isfinite(r)]
    decode = max(rates) if rates else 20.0     # 20 tokens/s: a slow, safe guess
    return Speed(backend, max(ttft_short_s, 0.0), prefill, decode, backend == "local")


@dataclass(frozen=True)
class Plan:
    """How much of an experiment to run: n of n_wanted requests, at max_concurrency,
    each with timeout_s, expected to take about expected_s in all."""

    n: int
    n_wanted: int
    max_concurrency: int
    timeout_s: float
    expected_s: float
    note: str

    def __str__(self) -> str:
        return self.note


def plan_batch(speed: Speed, n_wanted: int, prompt_tokens: float, output_tokens: float,
               max_concurrency: int, budget_s: float = 20.0, min_n: int = 2,
               what: str = "requests") -> Plan:
    """Fit up to `n_wanted` requests into about `budget_s` seconds on this backend.

    On a backend that runs one request at a time, max_concurrency becomes 1: more in
    flight would only make each request wait longer (and risk its timeout).
    """
    for name, value, low in [("n_wanted", n_wanted, 1), ("max_concurrency", max_concurrency, 1),
                             ("min_n", min_n, 1)]:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}")
    if not budget_s > 0 or not prompt_tokens >= 0 or not output_tokens >= 0:
        raise ValueError("budget_s must be > 0 seconds, and token counts >= 0")
    per_request = speed.seconds_for(prompt_tokens, output_tokens)
    conc = 1 if speed.one_at_a_time else max_concurrency
    waves_fit = max(1, int(budget_s // per_request))
    n = max(min(min_n, n_wanted), min(n_wanted, waves_fit * conc))
    expected = math.ceil(n / conc) * per_request
    timeout = max(MIN_TIMEOUT_S, SAFETY * per_request)
    parts = [f"{speed.backend}: about {per_request:.1f} s per request alone"]
    parts.append(f"all {n_wanted} {what}" if n == n_wanted else
                 f"{n} of {n_wanted} {what} to fit about {budget_s:.0f} s")
    if conc != max_concurrency:
        parts.append(f"max_concurrency={conc}, not {max_concurrency} (this backend runs one "
                     f"request at a time, so more in flight only queue)")
    else:
        parts.append(f"max_concurrency={conc}")
    parts.append(f"timeout {timeout:.0f} s per request")
    return Plan(n, n_wanted, conc, timeout, expected, "; ".join(parts))
