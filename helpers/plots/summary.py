"""A one-line text summary under each figure (all lessons), computed from the data it shows,
for anyone who cannot see the plot (a screen reader reads the text, not the picture).

A figure function calls `summarize(fig, text)`; the text is kept as `fig.summary`, and in a
Jupyter kernel it is printed right under the figure, once the cell has run (an IPython
`post_run_cell` hook: the inline backend has shown the cell's figures by then). Outside a
kernel nothing is printed; `fig.summary` is still there.
"""
from __future__ import annotations

import threading

_pending: list[str] = []
_hooked: list[bool] = []


def _print_pending(*_args) -> None:
    while _pending:
        print("In words:", _pending.pop(0))


def summarize(fig, text: str) -> str:
    """Attach `text` to `fig` (as `fig.summary`) and, in a kernel, print it under the figure."""
    fig.summary = text
    try:
        from IPython import get_ipython
        ip = get_ipython()
    except ImportError:
        ip = None
    # only a figure drawn by the cell itself: a widget's worker thread shows its own numbers
    if (ip is not None and getattr(ip, "kernel", None) is not None
            and threading.current_thread() is threading.main_thread()):
        if not _hooked:
            ip.events.register("post_run_cell", _print_pending)
            _hooked.append(True)
        _pending.append(text)
    return text
