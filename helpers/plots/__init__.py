"""Figures made from this run's measurements (lessons 01-06).

Each figure function takes result dataclasses from `helpers.timing` and returns
`(fig, ax)`; none calls `plt.show()` (Jupyter shows the figure for you). Titles
are neutral or computed from the data they show (`trend_verdict`, `stream_verdict`).
`style` holds the one palette and figure setup every plot uses; `summarize` prints a
one-line text summary of a figure, computed from its data, under it.
"""
from .figures import concurrency_sweep, gantt, stream_verdict, trend_verdict, visible_text
from .style import MEASURED, MODE_COLORS, PALETTE, PREDICTED, new_figure, style_axes
from .summary import summarize

__all__ = ["visible_text", "gantt", "concurrency_sweep", "trend_verdict", "stream_verdict",
           "PALETTE", "MODE_COLORS", "MEASURED", "PREDICTED", "new_figure", "style_axes", "summarize"]
