"""Lesson 05's cost model: tokens x price, from one editable price file.

    prices = cost.load_prices()                  # helpers/data/prices.json: EXAMPLE prices, dated
    usd = cost.usage_cost(msg.usage_metadata, prices["gpt-4o-mini"])
    run = cost.run_with_usage(chain, questions, max_concurrency=4)      # -> UsageRun (tokens, seconds)
    bill = cost.monthly_cost(2000, 1500, 200, prices["gpt-4o-mini"], cache_hit_rate=0.3)  # -> MonthlyCost
    cost.CostWidget(prices)                      # controls -> monthly cost and a plot

Providers bill tokens: prompt (input) tokens and completion (output) tokens, each at
its own price per million. How the answer is delivered (invoke, stream, client-side
batch) does not change the bill; fewer tokens, cache hits and a provider's Batch API do.

Prices and the bill's arithmetic live in `pricing`, the picture and the widget in
`cost_widget`; both are re-exported here, so lessons keep writing `cost.X`.
"""
from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass

from langchain_core.callbacks import BaseCallbackHandler

from .cost_widget import CostWidget, plot_monthly
from .pricing import (
    PRICES_PATH,
    MonthlyCost,
    Price,
    PriceTable,
    is_cache_hit,
    load_prices,
    message_cost,
    monthly_cost,
    usage_cost,
)
from .run_progress import progress_bar

__all__ = ["PRICES_PATH", "Price", "PriceTable", "load_prices", "is_cache_hit", "usage_cost", "message_cost",
           "UsageLog", "UsageRun", "run_with_usage", "MonthlyCost", "monthly_cost", "plot_monthly", "CostWidget"]

# ---- the cost of calls you made ------------------------------------------------------------------

class UsageLog(BaseCallbackHandler):
    """Lesson 05: a callback that keeps the usage_metadata of every model call it sees, even inside
    a chain or a batch: `chain.batch(inputs, config={"callbacks": [log]})`."""

    def __init__(self):
        super().__init__()
        self._lock, self.calls = threading.Lock(), []

    def on_llm_end(self, response, **kwargs) -> None:
        try:
            usage = response.generations[0][0].message.usage_metadata
        except (IndexError, AttributeError):
            return
        if usage:
            with self._lock:
                self.calls.append(dict(usage))


@dataclass(frozen=True)
class UsageRun:
    """Inputs run through a chain or model, with every model call's usage and the wall time (lesson 05)."""

    outputs: list
    usages: tuple
    total_s: float

    @property
    def billed(self) -> list[dict]:
        return [u for u in self.usages if not is_cache_hit(u)]

    @property
    def cache_hits(self) -> int:
        return len(self.usages) - len(self.billed)

    @property
    def input_tokens(self) -> int:
        """Prompt tokens sent to the provider (cache hits excluded)."""
        return sum(u["input_tokens"] for u in self.billed)

    @property
    def output_tokens(self) -> int:
        """Completion tokens the provider wrote (cache hits excluded)."""
        return sum(u["output_tokens"] for u in self.billed)

    def cost_usd(self, price: Price, batch_api: bool = False) -> float:
        return sum(usage_cost(u, price, batch_api) for u in self.billed)


def run_with_usage(runnable, inputs: list, max_concurrency: int, progress: str | None = None) -> UsageRun:
    """`runnable.batch(inputs)` with a UsageLog attached: outputs, token usage and seconds (lesson 05).

    progress="max_concurrency=8": a tqdm bar with that name, one step per finished input, while it runs."""
    inputs = list(inputs)
    log = UsageLog()
    config = {"max_concurrency": max_concurrency, "callbacks": [log]}
    with ExitStack() as stack:
        if progress:
            config["callbacks"].append(stack.enter_context(progress_bar(len(inputs), progress)))
        t0 = time.perf_counter()
        outputs = runnable.batch(inputs, config=config)
        total_s = time.perf_counter() - t0
    return UsageRun(outputs, tuple(log.calls), total_s)

