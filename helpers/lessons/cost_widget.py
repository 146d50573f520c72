"""Lesson 05's monthly bill as a picture and a widget: cost against traffic (no cache, cache,
Batch API), and controls that recompute `monthly_cost` and redraw it.
"""
from __future__ import annotations

import ipywidgets as widgets

from .pricing import MonthlyCost, Price, PriceTable, monthly_cost


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
    """Lesson 05: controls for traffic, prompt and output tokens, cache hit rate, a model and
    the Batch API -> the monthly cost and its plot. The work is `monthly_cost(...)`."""

    def __init__(self, prices: PriceTable, requests_per_day: float = 2000, prompt_tokens: int = 1500,
                 output_tokens: int = 200, cache_hit_rate: float = 0.0):
        self.prices, self.result = prices, None
        style = {"description_width": "120px"}
        lay = widgets.Layout(width="420px")
        # Dropdowns and number boxes, not sliders: each label is the control's accessible name
        # (ipywidgets 8 gives a slider's handle none), and each works with Tab and the keyboard.
        # Round steps (1, 2, 5 x 10^k) of traffic.
        steps = sorted({m * 10 ** k for k in range(0, 7) for m in (1, 2, 5) if m * 10 ** k <= 1_000_000}
                       | {int(requests_per_day)})
        self.traffic = widgets.Dropdown(options=[(f"{v:,}", v) for v in steps],
                                        value=int(requests_per_day), description="requests/day",
                                        style=style, layout=lay)
        self.prompt = widgets.BoundedIntText(value=prompt_tokens, min=50, max=8000, step=50,
                                             description="prompt tokens", style=style, layout=lay)
        self.output = widgets.BoundedIntText(value=output_tokens, min=10, max=2000, step=10,
                                             description="output tokens", style=style, layout=lay)
        rates = sorted({round(0.05 * k, 2) for k in range(20)} | {round(cache_hit_rate, 2)})
        self.cache = widgets.Dropdown(options=[(f"{r:.0%}", r) for r in rates], value=round(cache_hit_rate, 2),
                                      description="cache hit rate", style=style, layout=lay)
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
