"""One palette and one figure setup for every plot in the course (all lessons).

invoke, stream and batch keep one colour each, course-wide; the palette is
colour-blind safe (the first 8 colours of Petroff's 10-colour cycle, matplotlib's
`petroff10` style), and plots vary line style or marker too, so colour is never the
only cue. Importing this module makes the palette matplotlib's default colour cycle,
so a plot that names no colour uses it too; other than the palette, plots use only
greys (black, white, "0.3" ...). Measurements and predictions carry the same two
labels everywhere.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import cycler

PALETTE = ["#3f90da", "#ffa90e", "#bd1f01", "#94a4a2", "#832db6", "#a96b59", "#e76300", "#b9ac70"]
plt.rcParams["axes.prop_cycle"] = cycler(color=PALETTE)
MODE_COLORS = {"invoke": PALETTE[0], "stream": PALETTE[1], "batch": PALETTE[2],
               "predicted": PALETTE[3], "other": PALETTE[4]}
MEASURED = "measured (this run)"
PREDICTED = "predicted (latency model)"


def style_axes(ax, grid: str = "both") -> None:
    """The course's look for one or more axes: a light grid, no top and right frame."""
    for a in np.atleast_1d(ax):
        a.grid(alpha=0.3, axis=grid)
        a.spines[["top", "right"]].set_visible(False)


def new_figure(figsize=(8, 4), ncols: int = 1):
    """A new figure with `ncols` styled axes side by side; returns (fig, ax)."""
    fig, ax = plt.subplots(1, ncols, figsize=figsize, constrained_layout=True)
    style_axes(ax)
    return fig, ax
