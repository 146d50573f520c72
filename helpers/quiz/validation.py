"""Checking a quiz bank (for lesson authors): `check_bank` validates a parsed YAML file against
the pydantic models in `schema.py` and turns the first problem into one line that names the
file, the question id and the field, like
    03_batch.yaml, question 'over_the_wire': `choices` item 2 is a wrong choice without `feedback` saying why.
"""
from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..errors import CourseError
from .schema import KINDS, RULES, Bank


class QuizFormatError(CourseError, ValueError):
    """A lesson's quiz YAML file breaks the question format (for lesson authors);
    the one-line message names the file, the question id and the field."""


_PHRASES = {
    "missing": "is missing", "string_type": "must be text", "bool_type": "must be true or false",
    "list_type": "must be a list", "dict_type": "must be a mapping", "model_type": "must be a mapping",
    "model_attributes_type": "is not a mapping", "literal_error": "must be {expected}",
    "extra_forbidden": "is not a known field here (a typo?)",
    "string_pattern_mismatch": "must be made of lowercase letters, digits and _",
    "too_short": "needs at least {min_length} item(s)", "too_long": "takes at most {max_length} items",
    "union_tag_invalid": "must be one of {expected_tags}", "union_tag_not_found": "is missing",
}


def _phrase(err: dict) -> str:
    """What is wrong, as the end of a sentence that starts with the field's name."""
    if err["type"] == "value_error":          # our own validators: their message is the phrase
        return str(err["ctx"]["error"])
    template = _PHRASES.get(err["type"])
    if template is None:
        return f"is not valid ({err['msg']})"
    return template.format(**{k: str(v).replace("'", "") for k, v in err.get("ctx", {}).items()})


def _field(path: list) -> str:
    """("choices", 1, "text") -> "`choices` item 2 `text`"; ("expect", "tolerance") -> "`expect.tolerance`"."""
    words, names = [], []
    for part in path + [None]:
        if isinstance(part, str):
            names.append(part)
            continue
        if names:
            words.append("`" + ".".join(names) + "`")
            names = []
        if isinstance(part, int):
            words.append(f"item {part + 1}")
    return " ".join(words)


def _question_path(loc: list, err: dict) -> list:
    """The field inside one question: without the kind and rule tags pydantic adds to `loc`."""
    path = loc[1:] if loc and loc[0] in KINDS else loc
    path = [p for i, p in enumerate(path) if not (i and path[i - 1] == "expect" and p in RULES)]
    if err["type"].startswith("union_tag"):   # the tag field itself: `kind` or `expect.type`
        path.append(err["ctx"]["discriminator"].strip("'"))
    return path


def _describe(raw: Any, err: dict) -> str:
    loc, phrase = list(err["loc"]), _phrase(err)
    if len(loc) >= 2 and loc[0] == "questions" and isinstance(loc[1], int):
        spec = raw["questions"][loc[1]]
        qid = spec.get("id") if isinstance(spec, dict) and isinstance(spec.get("id"), str) else None
        field = _field(_question_path(loc[2:], err))
        return f", question {qid or f'#{loc[1] + 1}'!r}: " + (f"{field} {phrase}" if field else phrase)
    if not loc and err["type"] == "value_error":
        return f", {phrase}"                   # a bank-wide rule, like an id used twice
    if loc[:1] == ["title"]:
        return f": `title` {phrase}"
    return ": needs a top-level `questions:` list"


def check_bank(raw: Any, filename: str) -> None:
    """Raise QuizFormatError if `raw` (a parsed YAML bank) breaks the format: one line
    naming the file, the question id and the field."""
    try:
        Bank.model_validate(raw)
    except ValidationError as exc:
        raise QuizFormatError(f"{filename}{_describe(raw, _first(exc.errors()))}.") from None


def _first(errors: list[dict]) -> dict:
    """The first problem; in the same question a typo first, since it explains a missing field."""
    same = [e for e in errors if e["loc"][:2] == errors[0]["loc"][:2]]
    return next((e for e in same if e["type"] == "extra_forbidden"), errors[0])
