"""The course's own diagrams, drawn with matplotlib (lessons 00 and 01).

No images are downloaded: every figure is drawn here, so it shows offline in
JupyterLab, VS Code and Colab. Each function returns `(fig, ax)` and never
calls `plt.show()` (Jupyter shows the figure for you). invoke, stream and
batch keep their course-wide colours (`plots.MODE_COLORS`), and every mode
is also named in text, so nothing depends on telling colours apart.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch, Rectangle

from ..timing import InvokeResult
from .style import MODE_COLORS
from .summary import summarize

WAIT = "#e3e3e3"        # "nothing to show yet"
QUEUE = "#94a4a2"       # waiting for a free server slot
OVERHEAD = "#d9c9a3"    # fixed per-request work (the same for any prompt)
PREFILL = "#b9ac70"     # reading the prompt
DECODE = "#5a5a5a"      # writing tokens
INK = "#222222"


def _box(ax, x, y, w, h, text="", fc="white", ec=INK, ls="-", size=10, **kw):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.4,rounding_size=1.2",
                                fc=fc, ec=ec, ls=ls, lw=1.3))
    if text:
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size, color=INK, **kw)


def _arrow(ax, start, end, color=INK, lw=1.6, ls="-", rad=0.0):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=16, color=color,
                                 lw=lw, ls=ls, connectionstyle=f"arc3,rad={rad}"))


def _canvas(ax, width, height):
    ax.set(xlim=(0, width), ylim=(0, height))
    ax.axis("off")


def _draw_path(ax):
    """Top panel: client -> HTTP -> queue -> slots (prefill, decode) -> back."""
    _canvas(ax, 100, 34)
    _box(ax, 1, 12, 16, 14, "Your code\n(ChatOpenAI)\n\n.invoke(...)\n.stream(...)\n.batch([...])", size=9.5)
    _arrow(ax, (18.5, 21), (31, 21))
    ax.text(24.7, 22.3, "HTTP\nrequest", ha="center", va="bottom", fontsize=9)
    _box(ax, 32, 6, 66, 25, ec="#777777", ls="--")
    ax.text(65, 32.3, "LLM server", ha="center", fontsize=11, weight="bold")
    _box(ax, 34, 12, 13, 14)
    ax.text(40.5, 23.5, "queue", ha="center", fontsize=10, weight="bold")
    for i in range(3):
        ax.add_patch(Rectangle((35.6 + 3.6 * i, 16.5), 2.6, 3.4, fc=QUEUE, ec=INK, lw=0.8, hatch=".."))
    ax.text(40.5, 13.6, "waits for a\nfree slot", ha="center", fontsize=8.5)
    _arrow(ax, (47.8, 19), (51, 19))
    ax.text(74, 29, "slots: each runs one request", ha="center", fontsize=10, weight="bold")
    ax.text(58.5, 25.8, "prefill: reads\nthe prompt", ha="center", fontsize=8.5)
    ax.text(80, 25.8, "decode: writes the answer,\none token at a time", ha="center", fontsize=8.5)
    for row, n_tokens in enumerate((9, 5, 2)):  # all slots busy, so the queue waits
        y = 21 - 5 * row
        ax.text(52.5, y + 1.5, f"slot {row + 1}", ha="right", va="center", fontsize=8.5)
        if not n_tokens:
            ax.text(54, y + 1.5, "free", va="center", fontsize=8.5, style="italic", color="#666666")
            continue
        ax.add_patch(Rectangle((53.5, y), 10, 3, fc=PREFILL, ec=INK, lw=0.8, hatch="//"))
        for t in range(n_tokens):
            ax.add_patch(Rectangle((64.5 + 3.4 * t, y + 0.3), 2.6, 2.4, fc=DECODE, ec=INK, lw=0.5))
    ax.plot([34, 34, 63.5, 63.5], [10.2, 9.4, 9.4, 10.2], color=INK, lw=1)
    ax.text(48.7, 8.6, "time to first token (TTFT)", ha="center", va="top", fontsize=8.5)
    ax.plot([64.5, 64.5, 95, 95], [10.2, 9.4, 9.4, 10.2], color=INK, lw=1)
    ax.text(79.7, 8.6, "then tokens at a steady rate", ha="center", va="top", fontsize=8.5)
    ax.plot([90, 90, 9], [5.4, 2, 2], color=INK, lw=1.6)
    _arrow(ax, (9, 1.95), (9, 11.3))
    ax.text(50, 2.6, "the answer's tokens come back over HTTP", ha="center", fontsize=9)


def _lane_label(ax, y, mode, motto):
    ax.text(11, y, f"{mode}\n“{motto}”", ha="right", va="center", fontsize=10.5,
            color=INK, weight="bold")


def _draw_lanes(ax):
    """Bottom panel: what your code gets back, per mode (schematic, not measured)."""
    _canvas(ax, 100, 34)
    ax.text(50, 32.5, "What comes back to your code (schematic: lessons 01-04 measure it)",
            ha="center", fontsize=11, weight="bold")
    # invoke: wait, then everything at once
    _lane_label(ax, 25, "invoke", "I wait")
    ax.add_patch(Rectangle((13, 23.5), 62, 3, fc=WAIT, ec="#999999", lw=0.8))
    ax.text(44, 25, "nothing to show yet", ha="center", va="center", fontsize=9)
    ax.add_patch(Rectangle((75, 23), 10, 4, fc=MODE_COLORS["invoke"], ec=INK, lw=1))
    ax.text(86.5, 25, "the whole answer,\nonce, at the end", va="center", fontsize=9)
    # stream: first chunk early, the rest as written
    _lane_label(ax, 15.5, "stream", "I see it live")
    ax.add_patch(Rectangle((13, 14), 9, 3, fc=WAIT, ec="#999999", lw=0.8))
    step = (75 - 2.9 - 23) / 13      # the last chunk ends where invoke's answer arrives: the usual case
    for i in range(14):
        ax.add_patch(Rectangle((23 + step * i, 14), 2.9, 3, fc=MODE_COLORS["stream"], ec=INK, lw=0.6))
    ax.text(86.5, 15.5, "chunks as they are\nwritten (SSE events)", va="center", fontsize=9)
    # batch: several independent requests in flight together
    _lane_label(ax, 4.5, "batch", "many at once")
    ends = (62, 80, 70, 55)
    for i, end in enumerate(ends):
        y = 8.2 - 2.3 * i
        ax.add_patch(Rectangle((13 + i, y), end - 13 - i, 1.5, fc="white", ec=MODE_COLORS["batch"],
                               lw=1, hatch="////"))
        if end < max(ends):  # answered on the server, but .batch() holds it until the slowest is done
            ax.plot([end, max(ends)], [y + 0.75] * 2, ":", color=MODE_COLORS["batch"], lw=1.2)
    # .batch() returns one list: every answer reaches your code when the slowest request is done
    ax.add_patch(Rectangle((max(ends), 8.2 - 2.3 * 3 - 0.2), 3.5, 2.3 * 3 + 1.9, fc=MODE_COLORS["batch"],
                           ec=INK, lw=0.8))
    ax.text(86.5, 4.5, "up to max_concurrency\nrequests in flight;\nthe list comes back\nwhen the slowest is done",
            va="center", fontsize=9)
    _arrow(ax, (13, 0.6), (84, 0.6), color="#666666", lw=1.2)
    ax.text(84.8, 0.6, "time", va="center", fontsize=9, color="#666666")


def _flow_legend() -> list:
    """One entry per kind of bar in request_flow (lesson 00)."""
    return [Patch(fc=QUEUE, ec=INK, hatch="..", label="queue: waits for a free slot"),
            Patch(fc=PREFILL, ec=INK, hatch="//", label="prefill: the server reads the prompt"),
            Patch(fc=DECODE, ec=INK, label="decode: one token written"),
            Patch(fc=WAIT, ec="#999999", label="nothing to show yet"),
            Patch(fc="white", ec=MODE_COLORS["batch"], hatch="////", label="a request in flight (batch)"),
            Line2D([], [], ls=":", color=MODE_COLORS["batch"], label="answered, held until the slowest is done"),
            Patch(fc=MODE_COLORS["stream"], ec=INK, label="text reaches your code (solid, mode colour)")]


def request_flow():
    """The mental model of the course (lesson 00): a request travels from your code over
    HTTP to the server, waits in a queue for a slot, is prefilled (the prompt is read) and
    decoded (one token at a time); then what comes back differs by mode: invoke gets one
    response at the end, stream gets chunks (SSE) as they are written, batch sends many
    requests in parallel. Returns (fig, (ax_path, ax_modes))."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8.8), constrained_layout=True)
    _draw_path(top)
    _draw_lanes(bottom)
    fig.legend(handles=_flow_legend(), loc="outside lower center", ncol=3, fontsize=9, frameon=False,
               title="What the bars mean (hatched: still waiting or working; solid: something you get)",
               title_fontsize=9.5)
    fig.suptitle("How a request reaches an LLM, and how the answer comes back", fontsize=13,
                 weight="bold")
    summarize(fig, "A request goes over HTTP to the server, waits in a queue for a slot, the prompt is read "
                   "(prefill), then tokens are written one at a time (decode); invoke gets the whole answer at "
                   "the end, stream gets chunks as they are written, batch sends many requests side by side and "
                   "returns all the answers together when the slowest is done.")
    return fig, (top, bottom)


def _user_row(ax, result: InvokeResult, y: float):
    end = result.total_s
    ax.barh(y, end, height=0.5, color=WAIT, edgecolor="#999999", hatch="//")
    ax.text(end / 2, y, " nothing on screen yet ", ha="center", va="center", fontsize=10,
            bbox=dict(fc="white", ec="none", pad=1))
    ax.barh(y, end * 0.03, left=end, height=0.7, color=MODE_COLORS["invoke"], edgecolor=INK)
    size = f" ({result.completion_tokens} tokens)" if result.completion_tokens else ""
    ax.annotate(f"the whole answer{size} appears at once",
                (end, y - 0.35), xytext=(end, y - 0.62), ha="right", va="bottom", fontsize=9.5,
                arrowprops=dict(arrowstyle="-", color=INK, lw=0.8))
    ax.axvline(end, color=MODE_COLORS["invoke"], ls="--", lw=1.2)


def _server_row(ax, result: InvokeResult, y: float):
    s = result.server
    gen = max(result.total_s - s.first_token_s, 0.0)
    parts = [(s.queue_s, QUEUE, "..", f"queue: waiting for a slot ({s.queue_s:.2f} s)"),
             (s.overhead_s, OVERHEAD, "xx", f"overhead: the same for any prompt ({s.overhead_s:.2f} s)"),
             (s.prefill_s, PREFILL, "//", f"reading the prompt (prefill) ({s.prefill_s:.2f} s)"),
             (gen, DECODE, None, f"generating tokens, + network ({gen:.2f} s)")]
    left = 0.0
    for width, colour, hatch, label in parts:
        ax.barh(y, width, left=left, height=0.5, color=colour, edgecolor=INK, hatch=hatch, label=label)
        left += width


def invoke_timeline(result: InvokeResult, show_server: bool = False, backend: str = ""):
    """One measured `invoke` on a time axis (lesson 01): a blank wait, then the whole
    answer at `total_s`. show_server=True adds a row with where the time went on the
    server (queue, fixed overhead, reading the prompt, generation); only the simulator reports that split, so on
    other backends the row is left out. Returns (fig, ax)."""
    rows = ["what you see"] + (["server"] if show_server and result.server else [])
    fig, ax = plt.subplots(figsize=(9, 1.9 + 0.9 * len(rows)), layout="constrained")
    _user_row(ax, result, 0)
    if len(rows) == 2:
        _server_row(ax, result, 1)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlim(0, result.total_s * 1.06)
    ax.set_ylim(len(rows) - 0.5, -0.9)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel("time since the call (s)")
    title = f"invoke: nothing to see for {result.total_s:.2f} s, then the whole answer at once"
    ax.set_title(title + (f" ({backend})" if backend else ""), fontsize=11)
    if len(rows) == 2:
        fig.legend(loc="outside lower center", ncol=2, fontsize=8.5, frameon=False)
    s = result.server if len(rows) == 2 else None
    split = (f" On the server: queue {s.queue_s:.2f} s, overhead {s.overhead_s:.2f} s, reading the prompt "
             f"{s.prefill_s:.2f} s, generating {max(result.total_s - s.first_token_s, 0.0):.2f} s." if s else "")
    summarize(fig, f"Nothing on screen for {result.total_s:.2f} s, then the whole answer"
                   + (f" ({result.completion_tokens} tokens)" if result.completion_tokens else "")
                   + " at once." + split)
    return fig, ax
