"""The capacity lab's plan, its cost gate on OpenAI, and the knee widget (lesson 04b).

- `plan_lab(llm, backend)`: how many requests each profile sends, sized from the backend's
  measured speed (`helpers.budget.measure_speed`), and printed ("local model at 79 tok/s: ...").
  On `openai` nothing is measured: it prints the request count and an estimated cost, and
  asks before anything is sent.
- `KneeWidget(llm, plan)`: asks for your predicted knee, then runs the concurrency sweep in a
  worker thread (`helpers.ui.ThreadedWidget`); `.result()` returns the sweep, running it right
  there (with progress bars) if nobody pressed the button.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import CourseError
from ..ui import ThreadedWidget
from . import capacity_run as capacity

PROMPT_TOKENS = 20          # the lab's questions are about this long
CONCURRENCIES = (2, 4, 8, 16, 32)
OPENAI_SECONDS_PER_REQUEST = 1.0   # a guess for sizing on openai, where nothing is measured first


@dataclass(frozen=True)
class LabPlan:
    """How much the lab sends (lesson 04b). n_sync: synchronous requests; concurrencies and
    n_per_c: the sweep; seconds_per_rate: sending time per open-loop rate; rate_fractions: the
    rates as fractions of the way from the synchronous rate to the peak."""

    backend: str
    max_tokens: int
    seconds_per_request: float
    tokens_per_s: float
    n_sync: int
    concurrencies: tuple[int, ...]
    n_per_c: dict = field(repr=False)
    seconds_per_rate: float = 2.0
    rate_fractions: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8, 1.0)

    def n_for(self, c: int) -> int:
        return self.n_per_c[c]

    @property
    def n_sweep(self) -> int:
        return self.n_sync + sum(self.n_per_c.values())

    def n_rates(self, r_low: float, r_high: float) -> int:
        return sum(max(4, round(r * self.seconds_per_rate)) for r in self.rates(r_low, r_high))

    def rates(self, r_low: float, r_high: float) -> list[float]:
        """Constant rates from just above the synchronous rate to the peak (GuideLLM's sweep)."""
        return [round(r_low + f * (r_high - r_low), 3) for f in self.rate_fractions if r_low + f * (r_high - r_low) > 0]

    def __str__(self) -> str:
        who = "local model" if self.backend == "local" else self.backend
        return (f"{who} at {self.tokens_per_s:.0f} tok/s, about {self.seconds_per_request:.2f} s per "
                f"{self.max_tokens}-token answer alone: using {self.n_sync} synchronous requests, then "
                f"max_concurrency {', '.join(map(str, self.concurrencies))} with "
                f"{', '.join(str(self.n_per_c[c]) for c in self.concurrencies)} requests "
                f"({self.n_sweep} in all), then {len(self.rate_fractions)} request rates with "
                f"{self.seconds_per_rate:g} s of sending each")


def _sizes(seconds_per_request: float, parallel: bool, budget_s: float) -> tuple[int, tuple[int, ...], dict]:
    """Requests per point so the synchronous run and the sweep each fit about `budget_s`."""
    n_sync = max(3, min(8, math.floor(budget_s / 2 / seconds_per_request)))
    cs, n_per_c, spent = [], {}, 0.0
    for c in CONCURRENCIES:
        n = max(4, 2 * c) if parallel else c
        cost = math.ceil(n / c) * seconds_per_request * (1.3 if parallel else c)   # no gain assumed on one CPU
        if len(cs) >= 2 and spent + cost > budget_s:   # at least 3 points with the synchronous one
            break
        cs.append(c)
        n_per_c[c] = n
        spent += cost
    return n_sync, tuple(cs), n_per_c


def plan_lab(llm, backend: str, max_tokens: int = 32, budget_s: float = 14.0) -> LabPlan:
    """Size the lab to this backend (lesson 04b), or, on openai, show its count and cost and ask."""
    if backend == "openai":
        return _openai_plan(llm, max_tokens, budget_s)
    from ..budget import measure_speed

    speed = measure_speed(llm, backend)
    per = speed.seconds_for(PROMPT_TOKENS, max_tokens)
    parallel = not speed.one_at_a_time
    n_sync, cs, n_per_c = _sizes(per, parallel, budget_s)
    if parallel:
        return LabPlan(backend, max_tokens, per, speed.output_tokens_per_s, n_sync, cs, n_per_c,
                       seconds_per_rate=round(max(0.3, 3 * per), 2))
    # one request at a time (the local model): two rates, each a few answers long
    return LabPlan(backend, max_tokens, per, speed.output_tokens_per_s, n_sync, cs, n_per_c,
                   seconds_per_rate=round(max(0.3, 2 * per), 2), rate_fractions=(0.5, 1.0))


def _openai_plan(llm, max_tokens: int, budget_s: float) -> LabPlan:
    from .pricing import load_prices

    n_sync, cs, n_per_c = _sizes(OPENAI_SECONDS_PER_REQUEST, True, budget_s)
    plan = LabPlan("openai", max_tokens, OPENAI_SECONDS_PER_REQUEST, float("nan"), n_sync, cs, n_per_c)
    n = plan.n_sweep + 2 * sum(max(4, round(r * plan.seconds_per_rate)) for r in (2, 4, 6, 8, 10))
    model = getattr(llm, "model_name", "?")
    try:
        price = load_prices()[model]
        cost = n * (PROMPT_TOKENS * price.input_per_1m + max_tokens * price.output_per_1m) / 1e6
        est = f"about US${cost:.4f} at the example prices in helpers/data/prices.json"
    except KeyError:
        est = f"cost unknown: no price for {model!r} in helpers/data/prices.json"
    print(f"On OpenAI ({model}) the lab sends about {n} requests of up to {max_tokens} output tokens: {est}.")
    if input("Send them? Type yes to go on: ").strip().lower() != "yes":
        raise CourseError("Nothing was sent: the capacity lab stopped before its first request.")
    return plan


class KneeWidget(ThreadedWidget):
    """Predict the knee, then run the concurrency sweep (lesson 04b).

    A thin skin over `capacity.concurrency_sweep`: the dropdown records your guess (its label is
    read out by screen readers), the button runs the sweep in a worker thread and prints each
    point as it lands. `.result()` waits for that run, or runs the sweep itself if the button
    was never pressed (so the notebook also runs top to bottom without a click).
    """

    def __init__(self, llm, plan: LabPlan, baseline: capacity.Point):
        import ipywidgets as w

        self.llm, self.plan, self.baseline, self.points = llm, plan, baseline, None
        self.question = w.Label("Where will throughput stop paying for latency? Pick a max_concurrency:")
        self.guess = w.Dropdown(options=["no guess", *plan.concurrencies], value="no guess",
                                description="My knee guess", style={"description_width": "initial"})
        self.button = w.Button(description="Run the concurrency sweep", button_style="primary",
                               icon="play", tooltip="Send the sweep: each point prints as it lands",
                               layout=w.Layout(width="auto"))
        self.out = w.Output()
        self.button.on_click(self.out.capture()(self._on_click))
        super().__init__(w.VBox([self.question, w.HBox([self.guess, self.button]), self.out]),
                         [self.guess, self.button], self.out)

    def _on_click(self, _button=None) -> None:
        if not self.running:
            self.out.append_stdout(f"Your guess: {self.guess.value}. Sending the sweep …\n")
            self.start(self._work)

    def _work(self) -> None:
        points = {1: self.baseline}
        for c in self.plan.concurrencies:
            points[c] = capacity.run_point(self.llm, "concurrency", c, self.plan.n_for(c), progress=False)
            self.out.append_stdout(f"{points[c]}\n")
        self.points = points

    def result(self, timeout_s: float = 300.0) -> dict[int, capacity.Point]:
        """The sweep {max_concurrency: Point}, with the synchronous run as max_concurrency=1."""
        if self.thread is not None:
            self.wait(timeout_s)
            if self.points is None:
                raise CourseError(f"The sweep in the widget did not finish: {self.error or 'still running'}")
            return self.points
        points = {1: self.baseline}
        points |= capacity.concurrency_sweep(self.llm, self.plan.concurrencies, self.plan.n_for)
        self.points = points
        return points
