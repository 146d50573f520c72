"""Quiz questions and exercise checks for every lesson (00 to 05).

The questions are data, one YAML file per lesson in `helpers/quizzes/`.
This module turns them into objects you answer in a notebook cell:

    quiz = load_quiz("02_stream")
    quiz.show("stream_faster")              # a widget in Jupyter, plain text elsewhere
    quiz["stream_faster"].check("b")        # Correct / Not yet / Not attempted
    quiz["stream_faster"].hint()            # then .hint(2); .solution() explains why

Kinds: choice (one answer), multi (every choice that holds), numeric, exercise (your own code,
checked against your run by `helpers/quiz_checks.py` where it can be), and self_check: free text
is never marked Correct; it is shown beside a model answer for you to compare.
Lesson 00 shows how checks work. Each check records your best outcome in
`.course_progress/progress.json` (or in $COURSE_PROGRESS_DIR); COURSE_PROGRESS=off stops that.
"""
from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import CourseError
from .checks import NAMED_CHECKS, _number

__all__ = ["____", "Feedback", "Question", "Quiz", "QuizFormatError", "lessons", "load_quiz",
           "progress_summary", "show"]

QUIZ_DIR = Path(__file__).resolve().parent / "banks"
REPO_ROOT = Path(__file__).resolve().parents[2]
LABELS = {"correct": "Correct", "incorrect": "Not yet", "not_attempted": "Not attempted",
          "self_assessed": "Self-assessment (not graded)"}
# Okabe-Ito colours: they only add to the label word, never replace it.
COLOURS = {"correct": "#009E73", "incorrect": "#D55E00", "not_attempted": "#999999",
           "hint": "#0072B2", "solution": "#CC79A7", "self_assessed": "#56B4E9"}


class QuizFormatError(CourseError, ValueError):
    """A lesson's quiz YAML file breaks the question format (for lesson authors);
    the message names the file and the question id."""


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
    if isinstance(answer, _Blank) or (answer is None and none_is_blank):
        return True
    if isinstance(answer, str):
        return not answer.strip()
    values = answer.values() if isinstance(answer, dict) else answer
    return isinstance(answer, (dict, list, tuple)) and any(isinstance(v, _Blank) for v in values)


def _md_html(text: str) -> str:
    """Tiny Markdown to HTML: paragraphs, ``` code blocks, `code` and **bold**."""
    parts, buf, in_code = [], [], False
    for line in text.strip().splitlines() + [""]:
        if line.startswith("```") or (not in_code and not line.strip()):
            if in_code:
                parts.append("<pre>" + html.escape("\n".join(buf)) + "</pre>")
            elif buf:
                escaped = html.escape("\n".join(buf)).replace("\n", "<br>")
                escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
                parts.append("<p>" + re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", escaped) + "</p>")
            buf, in_code = [], in_code != line.startswith("```")
        else:
            buf.append(line)
    return "\n".join(parts)


@dataclass(frozen=True)
class Feedback:
    """What a check, hint or solution says (all lessons). `outcome` is "correct",
    "incorrect" or "not_attempted" for a check, "hint" or "solution" otherwise;
    `label` is the word shown ("Correct", "Not yet", "Hint 1 of 2", ...)."""

    outcome: str
    label: str
    message: str

    def __str__(self) -> str:
        return f"{self.label}: {self.message}"

    __repr__ = __str__

    def _repr_markdown_(self) -> str:
        return f"**{self.label}**\n\n{self.message}"

    def _repr_html_(self) -> str:
        colour = COLOURS.get(self.outcome, "#999999")
        return (f'<div style="border-left:5px solid {colour};padding:2px 10px">'
                f"<b>{html.escape(self.label)}</b>{_md_html(self.message)}</div>")


# ---- how each kind of question is checked: (passed, why not) -------------------------------

def _norm(value: Any) -> str:
    return str(value).strip().lower()


def _pick(q: Question, given: Any) -> dict | None:
    """The choice a letter ("b", "b)") or a choice's own text names, or None."""
    given = _norm(given)
    given = given[:-1] if re.fullmatch(r"[a-j]\)", given) else given   # "b)" means "b"
    keys = q.letters() + [_norm(c["text"]) for c in q.spec["choices"]]
    return q.spec["choices"][keys.index(given) % len(q.letters())] if given in keys else None


def _check_choice(q: Question, answer: Any) -> tuple[bool, str]:
    chosen = _pick(q, answer)
    if chosen is None:
        return False, f"Pass the letter of one choice: {', '.join(q.letters())}."
    return chosen["correct"], chosen.get("feedback", "")


def _check_multi(q: Question, answer: Any) -> tuple[bool, str]:
    """Every choice that holds, and none that doesn't: each wrong pick says why."""
    items = re.split(r"[,;\s]+", answer.strip()) if isinstance(answer, str) else answer
    if not isinstance(items, (list, tuple, set)) or not items:
        return False, f'Pass the letters of every choice that holds, like `["a", "c"]`.'
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


def _check_numeric(q: Question, answer: Any) -> tuple[bool, str]:
    try:
        value = _number(answer)
    except (TypeError, ValueError):
        return False, "Pass a number, like `.check(2.5)`."
    expected, tol = float(q.spec["expected"]), q.spec["tolerance"]
    if abs(value - expected) <= tol.get("abs", 0) + tol.get("rel", 0) * abs(expected) + 1e-12:
        return True, ""
    return False, q.spec["feedback"]["low" if value < expected else "high"]


def _check_rule(rule: dict, answer: Any) -> tuple[bool, str]:
    """The declarative `expect:` rules an exercise can use instead of a named check."""
    if rule["type"] == "number":     # one right number, and the classic wrong ones by name
        value = _number(answer)
        near = [m["message"] for m in rule.get("mistakes", [])
                if abs(value - m["value"]) <= rule["tolerance"]]
        ok = abs(value - rule["value"]) <= rule["tolerance"]
        return ok, (near or [rule["wrong"]])[0]
    if rule["type"] == "mapping":
        if not isinstance(answer, dict):
            return False, "Pass a dict with one entry per scenario: `{scenario: mode}`."
        given = {_norm(k): _norm(v) for k, v in answer.items()}
        wrong = [f"- {key}: " + (rule["feedback"][key] if _norm(key) in given else "add it to your dict.")
                 for key, ok in rule["answers"].items()
                 if given.get(_norm(key)) not in {_norm(v) for v in ok}]
        return not wrong, "Some scenarios need another look:\n" + "\n".join(wrong)
    if rule["type"] == "greater_than":
        return _number(answer, rule.get("integer", False)) > rule["value"], rule["wrong"]
    accepted = rule["values"] if rule["type"] == "choice_of" else [rule["value"]]
    return _norm(answer) in {_norm(v) for v in accepted}, rule["wrong"]


def _check_exercise(q: Question, *answers: Any) -> tuple[bool, str]:
    args = q.spec["args"]
    if len(answers) != len(args):
        return False, f"This check takes {len(args)} value(s): `.check({', '.join(args)})`."
    if "check" in q.spec:
        return NAMED_CHECKS[q.spec["check"]](*answers)   # helpers/quiz_checks.py
    try:
        return _check_rule(q.spec["expect"], answers[0])
    except (TypeError, ValueError):
        return False, q.spec["expect"].get("wrong", "Look at the type of value the prompt asks for.")


_CHECKERS = {"choice": _check_choice, "multi": _check_multi,
             "numeric": _check_numeric, "exercise": _check_exercise}


# ---- questions and quizzes -------------------------------------------------------------------

@dataclass(eq=False)
class Question:
    """One question or exercise (all lessons): answer with `.check(...)`, ask for
    `.hint()` then `.hint(2)`, or read `.solution()`; `.widget()` is the clickable form."""

    lesson: str
    id: str
    spec: dict = field(repr=False)
    attempts: int = 0

    @property
    def kind(self) -> str:
        return self.spec["kind"]

    def letters(self) -> list[str]:
        return list("abcdefghij"[: len(self.spec.get("choices", []))])

    def check(self, *answers: Any) -> Feedback:
        """Check your answer: Correct (with the explanation), Not yet (with why, never the
        answer) or Not attempted (a `____` is still there). Never raises on an answer.
        A self_check question is never graded: it shows your text beside a model answer."""
        none_is_blank = self.kind != "exercise"   # an exercise's check says what None means
        if not answers or any(_is_blank(a, none_is_blank) for a in answers):
            return Feedback("not_attempted", LABELS["not_attempted"], self._how_to_answer())
        if self.kind == "self_check":
            return self._self_assess(answers)
        try:
            passed, why = _CHECKERS[self.kind](self, *answers)
        except Exception as exc:  # noqa: BLE001 -- a wrong answer must never raise
            passed, why = False, f"That couldn't be checked ({type(exc).__name__}). {self._how_to_answer()}"
        self.attempts += 1
        outcome = "correct" if passed else "incorrect"
        _record(self.lesson, self.id, outcome)
        if not passed:
            return Feedback(outcome, LABELS[outcome], f"{why.strip()}\n\nTry again, or ask for a `.hint()`.")
        return Feedback(outcome, LABELS[outcome], self.spec["explanation"].strip())

    def _self_assess(self, answers: tuple) -> Feedback:
        """Your own words beside the model answer, with what to compare: never "Correct"."""
        if len(answers) != 1 or not isinstance(answers[0], str):
            return Feedback("incorrect", LABELS["incorrect"], f"Type your answer as text. {self._how_to_answer()}")
        self.attempts += 1
        _record(self.lesson, self.id, "self_assessed")
        points = "\n".join(f"- {p.strip()}" for p in self.spec["compare"])
        return Feedback("self_assessed", LABELS["self_assessed"],
                        f"**Your answer:** {' '.join(answers[0].split())}\n\n"
                        f"**Model answer:** {self.spec['model_answer'].strip()}\n\n"
                        f"Nobody grades this: compare the two yourself.\n{points}")

    def hint(self, n: int = 1) -> Feedback:
        """Hint number `n` (1, then 2, ...); each one says how to get the next."""
        hints = self.spec["hints"]
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(hints):
            raise ValueError(f"{self.id!r} has {len(hints)} hint(s): call .hint() or .hint(n) "
                             f"with n from 1 to {len(hints)}.")
        after = (f"Want another? Call `.hint({n + 1})`." if n < len(hints)
                 else "That was the last hint: `.solution()` shows the answer and why.")
        return Feedback("hint", f"Hint {n} of {len(hints)}", f"{hints[n - 1].strip()}\n\n{after}")

    def solution(self) -> Feedback:
        """The answer, and why it is right."""
        spec = self.spec
        right = [f"**{letter}) {c['text']}**" for letter, c in zip(self.letters(), spec.get("choices", []))
                 if c["correct"]]
        if self.kind == "choice":
            answer = f"The answer is {right[0]}."
        elif self.kind == "multi":
            answer = "These hold: " + "; ".join(right) + "."
        elif self.kind == "self_check":
            answer = f"Model answer: {spec['model_answer'].strip()}"
        elif self.kind == "numeric":
            answer = f"The answer is **{spec['expected']:g}{spec.get('unit', '')}**."
        else:
            answer = spec["solution"].strip()
        return Feedback("solution", "Solution", f"{answer}\n\n{spec['explanation'].strip()}")

    def _how_to_answer(self) -> str:
        call = f'quiz["{self.id}"].check'
        if self.kind == "choice":
            return f'Pass the letter of your choice ({", ".join(self.letters())}): `{call}("a")`.'
        if self.kind == "multi":
            return f'Pass the letters of every choice that holds (one or more): `{call}(["a", "c"])`.'
        if self.kind == "self_check":
            return (f'Write a sentence or two in your own words, in quotes: `{call}("...")`; '
                    "you then compare it with a model answer yourself.")
        if self.kind == "numeric":
            return f"Pass a number: `{call}(...)`."
        return f"Replace each `____` with your value, then run `{call}({', '.join(self.spec['args'])})`."

    def text(self) -> str:
        """The question as plain text, with how to answer it."""
        choices = zip(self.letters(), self.spec.get("choices", []))
        lines = [f"[{self.lesson} / {self.id}] {self.spec['prompt'].strip()}"]
        lines += [f"  {letter}) {choice['text']}" for letter, choice in choices]
        return "\n".join(lines + ["", self._how_to_answer()])

    def widget(self):
        """The question as ipywidgets. Children: the prompt, the answer box, a row of buttons
        (Check and Hint; "Compare with the model answer" for a self_check; only Hint for an
        exercise, which is answered in code) and the feedback, an HTML widget."""
        import ipywidgets as w

        feedback, (entry, read), shown = w.HTML(), self._entry_widget(w), [0]
        label = "Compare with the model answer" if self.kind == "self_check" else "Check"
        check = w.Button(description=label, button_style="primary")
        if self.kind == "self_check":
            check.layout.width = "auto"
        hint = w.Button(description="Hint")
        check.on_click(lambda _: setattr(feedback, "value", self.check(read())._repr_html_()))

        def on_hint(_):
            shown[0] = min(shown[0] + 1, len(self.spec["hints"]))
            feedback.value = self.hint(shown[0])._repr_html_()

        hint.on_click(on_hint)
        buttons = [hint] if self.kind == "exercise" else [check, hint]
        return w.VBox([w.HTML(_md_html(self.spec["prompt"])), entry, w.HBox(buttons), feedback])

    def _entry_widget(self, w):
        """The answer box, and a function that reads the answer from it."""
        labels = [(f"{letter}) {choice['text'].replace('`', '')}", letter)
                  for letter, choice in zip(self.letters(), self.spec.get("choices", []))]
        if self.kind == "choice":
            box = w.RadioButtons(options=labels, value=None, layout=w.Layout(width="max-content"))
        elif self.kind == "multi":
            ticks = [w.Checkbox(description=text, indent=False, layout=w.Layout(width="max-content"))
                     for text, _ in labels]
            box = w.VBox(ticks)
            return box, lambda: [letter for t, (_, letter) in zip(ticks, labels) if t.value] or ____
        elif self.kind == "self_check":
            box = w.Textarea(placeholder="Type your answer here", layout=w.Layout(width="100%"))
        elif self.kind == "numeric":
            box = w.Text(placeholder="a number")
        else:
            box = w.HTML(_md_html(self._how_to_answer()))   # exercises are answered in code
        return box, lambda: box.value


def show(question: Question) -> None:
    """Show a question (lessons 00-05): a clickable widget inside a Jupyter kernel,
    otherwise plain text that says how to answer with `.check(...)`."""
    try:
        from IPython import get_ipython
        from IPython.display import display
        in_kernel = getattr(get_ipython(), "kernel", None) is not None
    except ImportError:
        in_kernel = False
    if in_kernel:
        display(question.widget())
    else:
        print(question.text())


@dataclass
class Quiz:
    """One lesson's questions by id (lessons 00-05): `quiz["id"]` or `quiz.q("id")`."""

    lesson: str
    title: str
    questions: dict

    def q(self, qid: str) -> Question:
        if qid not in self.questions:
            raise ValueError(f"Lesson {self.lesson} has no question {qid!r}: "
                             f"use one of {', '.join(self.questions)}.")
        return self.questions[qid]

    __getitem__ = q

    def __iter__(self):
        return iter(self.questions.values())

    def show(self, qid: str) -> None:
        """Show question `qid`: a widget in Jupyter, plain text elsewhere."""
        show(self.q(qid))


# ---- loading and validating the YAML files ---------------------------------------------------

def _text(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip())


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _texts(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(map(_text, v))


def _choices_ok(cs: Any, n_right: range = range(1, 2)) -> bool:
    def ok(c: Any) -> bool:
        return (isinstance(c, dict) and _text(c.get("text")) and isinstance(c.get("correct"), bool)
                and (c["correct"] or _text(c.get("feedback"))))
    return isinstance(cs, list) and 2 <= len(cs) <= 10 and all(map(ok, cs)) and [
        c["correct"] for c in cs].count(True) in n_right


def _tolerance_ok(t: Any) -> bool:
    return isinstance(t, dict) and len(t) == 1 and set(t) <= {"abs", "rel"} and _num(*t.values())


def _low_high_ok(f: Any) -> bool:
    return isinstance(f, dict) and _text(f.get("low")) and _text(f.get("high"))


_COMMON = [("id", lambda v: isinstance(v, str) and re.fullmatch(r"[a-z][a-z0-9_]*", v),
            "made of lowercase letters, digits and _"), ("prompt", _text, "text"),
           ("explanation", _text, "text"), ("hints", _texts, "a list of one or more hints")]
_SCHEMA = {  # kind: [(field, test, what the field must be)]
    "choice": [("choices", _choices_ok, "a list of 2+ {text, correct, feedback}: exactly one "
                "correct, and every wrong one with feedback saying why")],
    "multi": [("choices", lambda cs: _choices_ok(cs, range(1, 10)), "a list of 2+ {text, correct, "
               "feedback}: one or more correct, and every wrong one with feedback saying why")],
    "self_check": [("model_answer", _text, "text"),
                   ("compare", _texts, "a list of points to compare your answer with")],
    "numeric": [("expected", _num, "a number"),
                ("tolerance", _tolerance_ok, "{abs: number} or {rel: number}"),
                ("feedback", _low_high_ok, "{low: text, high: text}")],
    "exercise": [("args", _texts, "a list of argument names"), ("solution", _text, "text")],
}
_RULES = {"equals": ("value", "wrong"), "choice_of": ("values", "wrong"),
          "number": ("value", "tolerance", "wrong"),
          "greater_than": ("value", "wrong"), "mapping": ("answers", "feedback")}


def _problem(spec: dict) -> str | None:
    """What is wrong with one question's YAML entry, or None when it is fine."""
    if spec.get("kind") not in _SCHEMA:
        return f"`kind` must be one of {', '.join(_SCHEMA)}"
    for key, ok, want in _COMMON + _SCHEMA[spec["kind"]]:
        if not ok(spec.get(key)):
            return f"`{key}` must be {want}"
    if spec["kind"] != "exercise":
        return None
    rule = spec.get("expect")
    if ("check" in spec) == ("expect" in spec):
        return "an exercise needs one of `check` (a named check) or `expect` (a rule)"
    if "check" in spec:   # checked against the run: its tests build a run, so no fixed example
        known = spec["check"] in NAMED_CHECKS
        return None if known else f"`check` must be one of {', '.join(NAMED_CHECKS)}"
    if not isinstance(spec.get("example"), list) or len(spec["example"]) != len(spec["args"]):
        return "an `expect` exercise needs `example`: one correct value per arg"
    if not isinstance(rule, dict) or rule.get("type") not in _RULES:
        return f"`expect.type` must be one of {', '.join(_RULES)}"
    if len(spec["args"]) != 1 or not all(key in rule for key in _RULES[rule["type"]]):
        return f"`expect` checks one arg and needs {', '.join(_RULES[rule['type']])}"
    if rule["type"] == "mapping" and set(rule["answers"]) != set(rule["feedback"]):
        return "`expect.feedback` needs one message per key of `expect.answers`"
    return None


def lessons(quiz_dir: str | Path | None = None) -> list[str]:
    """The lessons that have a quiz, like "02_stream" (lesson 00 lists them)."""
    return sorted(p.stem for p in Path(quiz_dir or QUIZ_DIR).glob("*.yaml"))


def load_quiz(lesson: str, quiz_dir: str | Path | None = None) -> Quiz:
    """Load one lesson's questions (every lesson ends with this): `load_quiz("02_stream")`
    or `load_quiz("02")`. A malformed file raises QuizFormatError naming file and id."""
    names = lessons(quiz_dir)
    found = [n for n in names if str(lesson) in (n, n.split("_")[0])]
    if len(found) != 1:
        raise ValueError(f"No quiz for lesson {lesson!r}: use one of {', '.join(names)}.")
    path = Path(quiz_dir or QUIZ_DIR) / f"{found[0]}.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise QuizFormatError(f"{path.name}: this is not valid YAML ({exc}).") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("questions"), list):
        raise QuizFormatError(f"{path.name}: needs a top-level `questions:` list.")
    questions: dict[str, Question] = {}
    for number, spec in enumerate(raw["questions"], start=1):
        qid = spec.get("id") if isinstance(spec, dict) else None
        problem = _problem(spec) if isinstance(spec, dict) else "is not a mapping"
        problem = problem or ("its id is used twice" if qid in questions else None)
        if problem:
            raise QuizFormatError(f"{path.name}, question {qid or f'#{number}'!r}: {problem}.")
        questions[qid] = Question(found[0], qid, spec)
    return Quiz(found[0], str(raw.get("title", found[0])), questions)


# ---- progress record ---------------------------------------------------------------------------

def _progress_path() -> Path | None:
    if _norm(os.environ.get("COURSE_PROGRESS", "on")) in {"off", "0", "false", "no"}:
        return None
    folder = os.environ.get("COURSE_PROGRESS_DIR") or REPO_ROOT / ".course_progress"
    return Path(folder) / "progress.json"


def _read_progress(path: Path | None) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path else {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _record(lesson: str, qid: str, outcome: str) -> None:
    """Keep each question's best outcome (correct, then self_assessed, then incorrect);
    a failed write never fails your cell."""
    path = _progress_path()
    if path is None:
        return
    data = _read_progress(path)
    key = f"{lesson}/{qid}"
    old = data[key] if isinstance(data.get(key), dict) else {}
    rank = ["incorrect", "self_assessed", "correct"]
    best = max((outcome, old.get("best")), key=lambda b: rank.index(b) if b in rank else -1)
    checks = old["checks"] if isinstance(old.get("checks"), int) else 0
    data[key] = {"best": best, "checks": checks + 1}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def progress_summary() -> dict:
    """Your best outcome per question, by lesson (lesson 00 shows it), like
    {"02_stream": {"correct": 1, "tried": 2, "total": 4,
                   "questions": {"stream_faster": "correct", ...}}}.
    Questions you haven't checked yet read "not_attempted"."""
    data, summary = _read_progress(_progress_path()), {}
    for lesson in lessons():
        entries = {qid: data.get(f"{lesson}/{qid}") for qid in load_quiz(lesson).questions}
        best = {qid: e.get("best", "not_attempted") if isinstance(e, dict) else "not_attempted"
                for qid, e in entries.items()}
        summary[lesson] = {"correct": sum(b == "correct" for b in best.values()),
                           "tried": sum(b != "not_attempted" for b in best.values()),
                           "total": len(best), "questions": best}
    return summary
