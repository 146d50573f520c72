"""Lesson 05's cost model: tokens x price, from one editable price file.

    prices = cost.load_prices()                  # helpers/data/prices.json: EXAMPLE prices, dated
    usd = cost.usage_cost(msg.usage_metadata, prices["gpt-4o-mini"])
    run = cost.run_with_usage(chain, questions, max_concurrency=4)      # -> UsageRun (tokens, seconds)
    bill = cost.monthly_cost(2000, 1500, 200, prices["gpt-4o-mini"], cache_hit_rate=0.3)  # -> MonthlyCost
    cost.CostWidget(prices)                      # sliders -> monthly cost and a plot

Providers bill tokens: prompt (input) tokens and completion (output) tokens, each at
its own price per million. How the answer is delivered (invoke, stream, client-side
batch) does not change the bill; fewer tokens, cache hits and a provider's Batch API do.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import ipywidgets as widgets
from langchain_core.callbacks import BaseCallbackHandler

__all__ = ["Price", "PriceTable", "load_prices", "is_cache_hit", "usage_cost", "message_cost", "UsageLog",
           "UsageRun", "run_with_usage", "MonthlyCost", "monthly_cost", "plot_monthly", "CostWidget",
           "BatchApiResult", "simulate_batch_api"]

PRICES_PATH = Path(__file__).resolve().parent.parent / "data" / "prices.json"


# ---- prices ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Price:
    """One model's example prices in US dollars per 1 million tokens (lesson 05)."""

    model: str
    input_per_1m: float
    cached_input_per_1m: float
    output_per_1m: float
    batch_discount: float = 0.5   # a provider's Batch API: this share off (0.5 = half price)


@dataclass(frozen=True)
class PriceTable:
    """The price file (lesson 05): `about` (what the numbers are), `source`, `taken_on` (date) and the prices."""

    about: str
    source: str
    taken_on: str
    default_model: str
    prices: dict

    def __getitem__(self, model: str) -> Price:
        if model not in self.prices:
            raise KeyError(f"no price for {model!r} in prices.json: use one of {', '.join(self.prices)}")
        return self.prices[model]

    @property
    def models(self) -> list[str]:
        return list(self.prices)

    def __str__(self) -> str:
        rows = [f"{'model':<14} {'input':>8} {'cached input':>13} {'output':>8} {'Batch API':>10}"]
        rows += [f"{p.model:<14} {p.input_per_1m:>8.3f} {p.cached_input_per_1m:>13.3f} {p.output_per_1m:>8.2f} "
                 f"{-p.batch_discount:>10.0%}" for p in self.prices.values()]
        return "\n".join([f"US$ per 1M tokens. {self.about}", f"Taken on {self.taken_on}.", *rows])


def load_prices(path: str | Path | None = None) -> PriceTable:
    """Read the price file (default `helpers/data/prices.json`; lesson 05); edit it to use your own prices."""
    raw = json.loads(Path(path or PRICES_PATH).read_text(encoding="utf-8"))
    prices = {name: Price(name, float(p["input"]), float(p.get("cached_input", p["input"])),
                          float(p["output"]), float(p.get("batch_discount", 0.5)))
              for name, p in raw["models"].items()}
    return PriceTable(raw.get("about", ""), raw.get("source", ""), raw.get("taken_on", "?"),
                      raw.get("default_model", next(iter(prices))), prices)


# ---- the cost of calls you made ------------------------------------------------------------------

def is_cache_hit(usage: dict | None) -> bool:
    """True for a reply served from LangChain's cache (lesson 05): it keeps the stored token counts
    but is marked `total_cost: 0` (langchain-core 1.8). No request reached the provider."""
    return bool(usage) and usage.get("total_cost") == 0


def usage_cost(usage: dict, price: Price, batch_api: bool = False) -> float:
    """US$ for one call's (lesson 05) `usage_metadata` ({"input_tokens", "output_tokens", ...}).

    Prompt tokens the provider read from its prompt cache (input_token_details.cache_read)
    are billed at the cached-input price; batch_api=True takes the Batch API discount off.
    """
    cached = (usage.get("input_token_details") or {}).get("cache_read", 0) or 0
    usd = ((usage["input_tokens"] - cached) * price.input_per_1m + cached * price.cached_input_per_1m
           + usage["output_tokens"] * price.output_per_1m) / 1e6
    return usd * (1 - price.batch_discount) if batch_api else usd


def message_cost(message, price: Price) -> float:
    """US$ for one AIMessage (lesson 05): 0 for a cache hit, else `usage_cost` of its usage_metadata."""
    usage = message.usage_metadata
    return 0.0 if is_cache_hit(usage) else usage_cost(usage, price)


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


def run_with_usage(runnable, inputs: list, max_concurrency: int) -> UsageRun:
    """`runnable.batch(inputs)` with a UsageLog attached: outputs, token usage and seconds (lesson 05)."""
    log = UsageLog()
    t0 = time.perf_counter()
    outputs = runnable.batch(list(inputs), config={"max_concurrency": max_concurrency, "callbacks": [log]})
    return UsageRun(outputs, tuple(log.calls), time.perf_counter() - t0)


# ---- planning: a month of traffic -----------------------------------------------------------------

@dataclass(frozen=True)
class MonthlyCost:
    """A month of traffic (lesson 05): requests made, requests billed (cache misses), and US$ by part."""

    requests: float
    billed_requests: float
    input_usd: float
    output_usd: float

    @property
    def total_usd(self) -> float:
        return self.input_usd + self.output_usd


def monthly_cost(requests_per_day: float, prompt_tokens: float, output_tokens: float, price: Price,
                 cache_hit_rate: float = 0.0, batch_api: bool = False, prompt_cache_share: float = 0.0,
                 days: int = 30) -> MonthlyCost:
    """What `days` days of traffic cost at `price` (lesson 05). Plain arithmetic:

    requests = requests_per_day * days; a share `cache_hit_rate` (0 to 1) is answered by your own
    response cache and costs nothing. The rest pay prompt_tokens at the input price (the share
    `prompt_cache_share` of them at the provider's cached-input price) and output_tokens at the
    output price. batch_api=True takes `price.batch_discount` off everything.
    """
    for name, value in [("requests_per_day", requests_per_day), ("prompt_tokens", prompt_tokens),
                        ("output_tokens", output_tokens), ("days", days)]:
        if not value >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    for name, rate in [("cache_hit_rate", cache_hit_rate), ("prompt_cache_share", prompt_cache_share)]:
        if not 0 <= rate <= 1:
            raise ValueError(f"{name} is a share from 0 to 1 (0.3 means 30%), got {rate!r}")
    requests = requests_per_day * days
    billed = requests * (1 - cache_hit_rate)
    cached_in = billed * prompt_tokens * prompt_cache_share
    input_usd = ((billed * prompt_tokens - cached_in) * price.input_per_1m
                 + cached_in * price.cached_input_per_1m) / 1e6
    output_usd = billed * output_tokens * price.output_per_1m / 1e6
    factor = 1 - price.batch_discount if batch_api else 1.0
    return MonthlyCost(requests, billed, input_usd * factor, output_usd * factor)


def plot_monthly(price: Price, requests_per_day: float, prompt_tokens: float, output_tokens: float,
                 cache_hit_rate: float = 0.0, batch_api: bool = False, days: int = 30):
    """Monthly cost against traffic (lesson 05): no cache, with cache, Batch API; a dot at your setting. (fig, ax)"""
    import matplotlib.pyplot as plt
    import numpy as np

    from ..plots import PALETTE, style_axes

    x = np.linspace(0, 2 * max(requests_per_day, 1), 50)
    styles = {"none": (PALETTE[3], "-"), "cache": (PALETTE[0], "--"), "batch": (PALETTE[2], ":"),
              "both": (PALETTE[4], "-.")}
    lines = [("none", "no cache", 0.0, False)]
    if cache_hit_rate > 0:
        lines.append(("cache", f"cache hit rate {cache_hit_rate:.0%}", cache_hit_rate, False))
    lines.append(("batch", f"Batch API (−{price.batch_discount:.0%}), no cache", 0.0, True))
    if cache_hit_rate > 0 and batch_api:
        lines.append(("both", f"Batch API + cache {cache_hit_rate:.0%}", cache_hit_rate, True))
    fig, ax = plt.subplots(figsize=(8, 4), constrained_layout=True)
    for kind, label, rate, batch in lines:
        y = [monthly_cost(t, prompt_tokens, output_tokens, price, rate, batch, days=days).total_usd for t in x]
        ax.plot(x, y, color=styles[kind][0], ls=styles[kind][1], lw=2, label=label)
    here = monthly_cost(requests_per_day, prompt_tokens, output_tokens, price, cache_hit_rate, batch_api, days=days)
    ax.plot([requests_per_day], [here.total_usd], "o", color="black", ms=8,
            label=f"your setting: ${here.total_usd:,.2f} / month")
    ax.set(xlabel="traffic (requests per day)", ylabel=f"cost per {days}-day month (US$)",
           xlim=(0, x[-1]), ylim=(0, None), title=f"Monthly cost vs traffic ({price.model}, example prices)")
    style_axes(ax)
    ax.legend(loc="upper left", fontsize="small")
    return fig, ax


class CostWidget:
    """Lesson 05: sliders for traffic, prompt and output tokens, cache hit rate, a model and
    the Batch API -> the monthly cost and its plot. The work is `monthly_cost(...)`."""

    def __init__(self, prices: PriceTable, requests_per_day: float = 2000, prompt_tokens: int = 1500,
                 output_tokens: int = 200, cache_hit_rate: float = 0.0):
        self.prices, self.result = prices, None
        style = {"description_width": "120px"}
        lay = widgets.Layout(width="420px")
        # Round steps (1, 2, 5 x 10^k): a log slider would snap 2000 to 1995 in the browser.
        steps = sorted({m * 10 ** k for k in range(0, 7) for m in (1, 2, 5) if m * 10 ** k <= 1_000_000}
                       | {int(requests_per_day)})
        self.traffic = widgets.SelectionSlider(options=[(f"{v:,}", v) for v in steps],
                                               value=int(requests_per_day), description="requests/day",
                                               style=style, layout=lay)
        self.prompt = widgets.IntSlider(value=prompt_tokens, min=50, max=8000, step=50,
                                        description="prompt tokens", style=style, layout=lay)
        self.output = widgets.IntSlider(value=output_tokens, min=10, max=2000, step=10,
                                        description="output tokens", style=style, layout=lay)
        self.cache = widgets.FloatSlider(value=cache_hit_rate, min=0, max=0.95, step=0.05,
                                         description="cache hit rate", readout_format=".0%", style=style, layout=lay)
        self.model = widgets.Dropdown(options=prices.models, value=prices.default_model, description="model")
        self.batch = widgets.Checkbox(value=False, description="Batch API (results within hours)",
                                      indent=False, layout=widgets.Layout(width="auto"))
        self.summary, self.plot, self.log = widgets.HTML(), widgets.Output(), widgets.Output()
        for control in (self.traffic, self.prompt, self.output, self.cache, self.model, self.batch):
            control.observe(self.log.capture()(self.update), names="value")
        controls = widgets.HBox([widgets.VBox([self.traffic, self.prompt, self.output, self.cache]),
                                 widgets.VBox([self.model, self.batch])])
        self.widget = widgets.VBox([controls, self.summary, self.plot, self.log])

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)
        self.update()

    def settings(self) -> dict:
        """The controls' values as `monthly_cost` keyword arguments."""
        return {"requests_per_day": self.traffic.value, "prompt_tokens": self.prompt.value,
                "output_tokens": self.output.value, "price": self.prices[self.model.value],
                "cache_hit_rate": self.cache.value, "batch_api": self.batch.value}

    def update(self, _change=None) -> MonthlyCost:
        """Recompute from the controls, then redraw the summary and the plot."""
        import matplotlib.pyplot as plt
        from IPython.display import clear_output, display

        s = self.settings()
        self.result = r = monthly_cost(**s)
        self.summary.value = (f"<b>${r.total_usd:,.2f} per month</b> for {r.requests:,.0f} requests "
                              f"({r.billed_requests:,.0f} reach the model): input ${r.input_usd:,.2f}, "
                              f"output ${r.output_usd:,.2f}. <i>Example prices from {self.prices.taken_on}.</i>")
        with self.plot:
            clear_output(wait=True)
            fig, _ = plot_monthly(**s)
            display(fig)
            plt.close(fig)
        return r


# ---- a provider's Batch API: a SIMULATION of its shape ---------------------------------------------

@dataclass(frozen=True)
class BatchApiResult:
    """A simulated Batch API job (lesson 05): the request file, the status timeline (simulated hours), the results."""

    request_lines: tuple[str, ...]
    timeline: tuple[tuple[float, str], ...]
    outputs: list
    run: UsageRun
    normal_usd: float
    batch_usd: float


def simulate_batch_api(runnable, inputs: list, price: Price, hours_to_complete: float = 3.0,
                       max_concurrency: int = 8, on_status=print) -> BatchApiResult:
    """A pure-Python SIMULATION of a provider's asynchronous Batch API (lesson 05): no endpoint, no waiting.

    1. submit: one JSON line per request, each with a custom_id, uploaded as one file -> status "validating".
    2. poll: you come back later; "in_progress", then "completed" after `hours_to_complete` simulated hours
       (providers promise a window: 24 h at OpenAI).
    3. results: one line per custom_id, billed at (1 - batch_discount) of the normal price.
    To get real token counts, the answers come from an ordinary client-side batch to your backend.
    """
    lines = tuple(json.dumps({"custom_id": f"request-{i}", "method": "POST", "url": "/v1/chat/completions",
                              "body": {"input": str(x)}}) for i, x in enumerate(inputs))
    timeline = [(0.0, "validating"), (0.5, "in_progress")]
    timeline += [(float(h), "in_progress") for h in range(1, int(hours_to_complete + 0.999))]
    timeline.append((float(hours_to_complete), "completed"))
    for hour, status in timeline:
        on_status(f"[simulated clock {hour:4.1f} h] batch_sim_1: {status}")
    run = run_with_usage(runnable, inputs, max_concurrency)
    return BatchApiResult(lines, tuple(timeline), run.outputs, run, run.cost_usd(price), run.cost_usd(price, True))
