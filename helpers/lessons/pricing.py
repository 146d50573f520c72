"""Lesson 05's prices and the bill's arithmetic: the editable price file, the cost of one
call's `usage_metadata`, and what a month of traffic costs. Plain arithmetic, no requests.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

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


# ---- the cost of one call -----------------------------------------------------------------------------

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
