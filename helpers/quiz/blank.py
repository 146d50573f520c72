"""The `____` blank that exercise cells leave for you to fill (all lessons)."""
from __future__ import annotations

from typing import Any


class _Blank:
    """The `____` placeholder in exercise cells (all lessons): a check that receives it says
    "Not attempted" rather than "Not yet". Printed (alone, in a dict, in an f-string) it reads
    as the blank `____`; as a cell's last value it displays nothing."""

    def __repr__(self) -> str:
        return "____"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:   # f"{guess:.2f}" on a blank prints the blank
        return "____"

    def _ipython_display_(self) -> None:
        return None


____ = _Blank()


def _is_blank(answer: Any, none_is_blank: bool = True) -> bool:
    """True for an answer still waiting to be filled in: `____`, None, blank text, or a
    dict/list/tuple that still holds a `____`."""
    if isinstance(answer, _Blank) or (answer is None and none_is_blank):
        return True
    if isinstance(answer, str):
        return not answer.strip()
    values = answer.values() if isinstance(answer, dict) else answer
    return isinstance(answer, (dict, list, tuple)) and any(isinstance(v, _Blank) for v in values)
