"""How each kind of question is judged (all lessons): `grade(question, *answers)` returns
(passed, why not). Choice and multi compare letters, numeric a number within tolerance, an
exercise either a declarative `expect:` rule or a named check from `checks.py` (judged
against the learner's own run). Answers are never trusted: anything odd is "Not yet".
"""
from __future__ import annotations

import re
from typing import Any

from .checks import NAMED_CHECKS, _number


def _norm(value: Any) -> str:
    return str(value).strip().lower()


def _pick(q, given: Any) -> dict | None:
    """The choice a letter ("b", "b)") or a choice's own text names, or None."""
    given = _norm(given)
    given = given[:-1] if re.fullmatch(r"[a-j]\)", given) else given   # "b)" means "b"
    keys = q.letters() + [_norm(c["text"]) for c in q.spec["choices"]]
    return q.spec["choices"][keys.index(given) % len(q.letters())] if given in keys else None


def _check_choice(q, answer: Any) -> tuple[bool, str]:
    chosen = _pick(q, answer)
    if chosen is None:
        return False, f"Pass the letter of one choice: {', '.join(q.letters())}."
    return chosen["correct"], chosen.get("feedback", "")


def _check_multi(q, answer: Any) -> tuple[bool, str]:
    """Every choice that holds, and none that doesn't: each wrong pick says why."""
    items = re.split(r"[,;\s]+", answer.strip()) if isinstance(answer, str) else answer
    if not isinstance(items, (list, tuple, set)) or not items:
        return False, 'Pass the letters of every choice that holds, like `["a", "c"]`.'
    picked = [_pick(q, item) for item in items]
    if None in picked:
        return False, f"Pass letters of the choices ({', '.join(q.letters())}), like `[\"a\", \"c\"]`."
    wrong = [c["feedback"].strip() for c in q.spec["choices"] if c in picked and not c["correct"]]
    missing = sum(c["correct"] and c not in picked for c in q.spec["choices"])
    why = [f"- {w}" for w in wrong]
    if missing:
        why.append(f"- {'One more choice holds' if missing == 1 else f'{missing} more choices hold'}"
                   " as well: read the others again.")
    return not why, "\n".join(why)


def _check_numeric(q, answer: Any) -> tuple[bool, str]:
    try:
        value = _number(answer)
    except (TypeError, ValueError):
        return False, "Pass a number, like `.check(2.5)`."
    expected, tol = float(q.spec["expected"]), q.spec["tolerance"]
    if abs(value - expected) <= tol.get("abs", 0) + tol.get("rel", 0) * abs(expected) + 1e-12:
        return True, ""
    return False, q.spec["feedback"]["low" if value < expected else "high"]


def _check_mapping(rule: dict, answer: Any) -> tuple[bool, str]:
    """One mode per scenario: each wrong or missing scenario gets its own message."""
    if not isinstance(answer, dict):
        return False, "Pass a dict with one entry per scenario: `{scenario: mode}`."
    given = {_norm(k): _norm(v) for k, v in answer.items()}
    wrong = [f"- {key}: " + (rule["feedback"][key] if _norm(key) in given else "add it to your dict.")
             for key, ok in rule["answers"].items()
             if given.get(_norm(key)) not in {_norm(v) for v in ok}]
    return not wrong, "Some scenarios need another look:\n" + "\n".join(wrong)


def _check_rule(rule: dict, answer: Any) -> tuple[bool, str]:
    """The declarative `expect:` rules an exercise can use instead of a named check."""
    if rule["type"] == "number":     # one right number, and the classic wrong ones by name
        value = _number(answer)
        near = [m["message"] for m in rule.get("mistakes", [])
                if abs(value - m["value"]) <= rule["tolerance"]]
        ok = abs(value - rule["value"]) <= rule["tolerance"]
        return ok, (near or [rule["wrong"]])[0]
    if rule["type"] == "mapping":
        return _check_mapping(rule, answer)
    if rule["type"] == "greater_than":
        return _number(answer, rule.get("integer", False)) > rule["value"], rule["wrong"]
    accepted = rule["values"] if rule["type"] == "choice_of" else [rule["value"]]
    return _norm(answer) in {_norm(v) for v in accepted}, rule["wrong"]


def _check_exercise(q, *answers: Any) -> tuple[bool, str]:
    args = q.spec["args"]
    if len(answers) != len(args):
        return False, f"This check takes {len(args)} value(s): `.check({', '.join(args)})`."
    if "check" in q.spec:
        return NAMED_CHECKS[q.spec["check"]](*answers)   # checks.py
    try:
        return _check_rule(q.spec["expect"], answers[0])
    except (TypeError, ValueError):
        return False, q.spec["expect"].get("wrong", "Look at the type of value the prompt asks for.")


CHECKERS = {"choice": _check_choice, "multi": _check_multi,
            "numeric": _check_numeric, "exercise": _check_exercise}


def grade(q, *answers: Any) -> tuple[bool, str]:
    """(passed, why not) for a graded kind; self_check is never graded, so it is not here."""
    return CHECKERS[q.kind](q, *answers)
