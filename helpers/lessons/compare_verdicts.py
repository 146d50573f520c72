"""What a comparison of the three modes showed, in words and a table (lesson 04).

Every sentence and number is computed from a `ModeComparison` (from `compare.run_modes`),
never typed in.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any

from ..quiz import ____, _is_blank
from .compare_results import MODES, ModeComparison, Spread, _s


def spread_verdict(what: str, a_name: str, a: Spread, b_name: str, b: Spread) -> str:
    """Compare two measured spreads of seconds (lower is better), honestly (lesson 04).

    Only when the ranges do not overlap does it name a winner; otherwise it says the
    run cannot tell them apart (it never claims "the same").
    """
    head = f"{what}: {a_name} {a} vs {b_name} {b}"
    if a.overlaps(b):
        return f"{head}: the ranges overlap, so this run cannot tell them apart"
    (win, w), (lose, l_) = sorted([(a_name, a), (b_name, b)], key=lambda x: x[1].median)
    ratio = l_.median / w.median if w.median > 0 else math.inf
    return f"{head}: {win} was sooner in every repeat ({ratio:.1f}× sooner by the medians)"


CPU_NOTE = ("(batch gains only when the server can work on several requests at once: on a CPU with "
            "few cores the requests in flight share the same cores, a busy machine slows them further, "
            "and rate limits can hold them back)")
ONE_AT_A_TIME_NOTE = ("(with one request in flight at a time, batch has nothing to overlap: "
                      "it can only be as fast as the invoke loop)")
SLOWER_NOTE = ("(batch gains only when the server can work on several requests at once: "
               "a server with few free slots, or a rate limit, holds it back)")
LOOPS_NOTE = ("(streaming changes how the answer is delivered, not how many tokens the model writes; "
              "a gap like this can come from the machine (other programs on a busy CPU), from random "
              "jitter, or from the small cost of handling each chunk: rerun to see whether it stays)")


@dataclass(frozen=True)
class Lines:
    """Printed lines that also show as plain text in Jupyter (lesson 04)."""

    lines: tuple[str, ...]

    def __str__(self) -> str:
        return "\n".join(self.lines)

    __repr__ = __str__


def verdicts(cmp: ModeComparison) -> Lines:
    """What this run showed, one computed sentence per question (lesson 04)."""
    inv, st, b = cmp.invoke, cmp.stream, cmp.batch
    lines = [f"{len(cmp.prompts)} prompts, {cmp.repeats} repeats; medians, with min-max in brackets:",
             spread_verdict("first text", "stream loop", st.first_text, "invoke loop", inv.first_text),
             spread_verdict("all done", "stream loop", st.all_done, "invoke loop", inv.all_done)]
    if not st.all_done.overlaps(inv.all_done):
        lines.append("  " + LOOPS_NOTE)
    lines.append(spread_verdict("all done", "batch", b.all_done, "invoke loop", inv.all_done))
    note = batch_note(cmp)
    if note:
        lines.append("  " + note)
    lines.append(spread_verdict("mean wait per answer", "batch", b.mean_wait, "invoke loop", inv.mean_wait))
    if b.n_errors:
        lines.append(f"batch: {b.n_errors} requests failed over the repeats; tokens/s counts only answers")
    return Lines(tuple(lines))


def batch_note(cmp: ModeComparison) -> str | None:
    """Why batch did not finish clearly sooner than the invoke loop, or None if it did (lesson 04).

    The shared-cores explanation only where it applies: the local model on this CPU. With one
    request in flight there is nothing to overlap. Elsewhere (sim, a hosted API) an overlap is
    described from the repeats themselves, never explained by cores the server doesn't share.
    """
    inv, b = cmp.invoke.all_done, cmp.batch.all_done
    if b.median < inv.median and not b.overlaps(inv):
        return None
    if cmp.label == "local":
        return CPU_NOTE
    if min(cmp.max_concurrency, len(cmp.prompts)) == 1:
        return ONE_AT_A_TIME_NOTE
    if not b.overlaps(inv):
        return SLOWER_NOTE
    if b.median >= inv.median:
        return "(batch was not sooner by the medians, and the ranges overlap, so this run cannot tell them apart)"
    slow = [r.all_done_s for r in cmp.batch.runs if r.all_done_s >= inv.lo]
    who = "one repeat was slow" if len(slow) == 1 else f"{len(slow)} of {cmp.repeats} repeats were slow"
    return (f"({who}: batch's slowest took {_s(max(slow))}, the invoke loop's fastest {_s(inv.lo)}; "
            "the ranges overlap, so this run cannot tell them apart)")


def _mode_guess(value: Any) -> str | None:
    text = str(value).strip().lower()
    return text if text in MODES else None


def guess_vs_measured(guess: dict, cmp: ModeComparison) -> Lines:
    """Each of your guesses beside what this run measured (lesson 04).

    guess keys: "first text on screen", "all answers done first" (a mode) and
    "batch speed-up" (how many times sooner than the invoke loop batch finishes the job).
    """
    if not isinstance(guess, dict):
        raise ValueError("my_guess must be a dict, e.g. {\"first text on screen\": \"stream\", ...}")
    lines = []
    for key, name in (("first text on screen", "first_text_s"), ("all answers done first", "all_done_s")):
        best, wins = cmp.winner(name)
        measured = f"measured: {best} (lowest in {wins} of {cmp.repeats} repeats)"
        close = [m.mode for m in cmp.modes
                 if m.mode != best and m.spread(name).overlaps(getattr(cmp, best).spread(name))]
        if close:
            measured += f", but its range overlaps {' and '.join(close)}'s: no clear winner in this run"
        g = guess.get(key, ____)
        said = ("(no guess)" if _is_blank(g) else
                f"{_mode_guess(g)}" if _mode_guess(g) else f"{g!r} (not one of invoke, stream, batch)")
        mark = " ✓" if _mode_guess(g) == best and not close else ""
        lines.append(f"{key}: you guessed {said}; {measured}{mark}")
    sp, g = cmp.speedup(), guess.get("batch speed-up", ____)
    try:
        said = "(no guess)" if _is_blank(g) else f"{float(g):.1f}×"
    except (TypeError, ValueError):
        said = f"{g!r} (not a number)"
    lines.append(f"batch speed-up: you guessed {said}; measured {sp.median:.1f}× (the median of the "
                 f"{cmp.repeats} repeats' invoke-loop time / batch time; range {sp.lo:.1f}-{sp.hi:.1f})")
    return Lines(tuple(lines))


# ---- the classic comparison table, rebuilt from the measurements --------------------------

@dataclass(frozen=True)
class ModeTable:
    """A small table that shows as HTML in Jupyter and as plain text elsewhere (lesson 04)."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""

    def __str__(self) -> str:
        cells = [self.header, *self.rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.header))]
        line = lambda r: " | ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
        body = [line(self.header), "-+-".join("-" * w for w in widths), *map(line, self.rows)]
        return "\n".join(([self.caption] if self.caption else []) + body)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        def row(cells, tag):
            return "<tr>" + "".join(f'<{tag} style="text-align:left">{html.escape(c)}</{tag}>'
                                    for c in cells) + "</tr>"
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return (f"<table>{caption}<thead>{row(self.header, 'th')}</thead><tbody>"
                + "".join(row(r, "td") for r in self.rows) + "</tbody></table>")


def mode_table(cmp: ModeComparison) -> ModeTable:
    """The classic table (Mode | User waits? | Multiple inputs? | Best for), every
    number from this run: medians over the repeats (lesson 04)."""
    inv, st, b, n = cmp.invoke, cmp.stream, cmp.batch, len(cmp.prompts)
    rows = (
        ("invoke", f"Yes: nothing for {_s(inv.first_text.median)}, then the whole first answer",
         f"No: one after another, all {n} done at {_s(inv.all_done.median)}",
         f"Simple scripts and background jobs ({inv.tokens_per_s.median:.0f} tokens/s)"),
        ("stream", f"No: first words after {_s(st.first_text.median)}, the rest arrive live",
         f"No: one after another, all {n} done at {_s(st.all_done.median)}",
         f"Chatbots and any UI ({st.tokens_per_s.median:.0f} tokens/s)"),
        ("batch", f"Yes: nothing for {_s(b.first_text.median)}, until the slowest is done "
         f"(the first was ready at {_s(cmp.first_ready.median)})",
         f"Yes: {min(cmp.max_concurrency, n)} at a time, all {n} done at {_s(b.all_done.median)}",
         f"Bulk processing ({b.tokens_per_s.median:.0f} tokens/s, "
         f"{b.tokens_per_s.median / inv.tokens_per_s.median:.1f}× the invoke loop's median"
         + ("; the ranges overlap, so this run cannot tell them apart)"
            if b.tokens_per_s.overlaps(inv.tokens_per_s) else ")")),
    )
    where = f" on {cmp.label}" if cmp.label else ""
    return ModeTable(("Mode", "User waits?", "Multiple inputs?", "Best for"), rows,
                     f"Measured in this run{where}: {n} prompts, medians of {cmp.repeats} repeats")
