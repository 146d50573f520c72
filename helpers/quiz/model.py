"""Questions and quizzes (all lessons): a `Question` you answer in a cell, a `Quiz` holding
one lesson's questions by id, and `load_quiz` that reads a bank from `banks/<lesson>.yaml`
(its format is checked by `schema.py` first). Grading is in `grading.py`, how feedback
looks in `render.py`, and the progress record in `progress.py`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import render, report
from .blank import _is_blank
from .grading import grade
from .progress import record
from .render import Feedback, verdict
from .validation import QuizFormatError, check_bank

QUIZ_DIR = Path(__file__).resolve().parent / "banks"


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
            return verdict("not_attempted", self._how_to_answer())
        if self.kind == "self_check":
            return self._self_assess(answers)
        try:
            passed, why = grade(self, *answers)
        except Exception as exc:  # noqa: BLE001 -- a wrong answer must never raise
            passed, why = False, f"That couldn't be checked ({type(exc).__name__}). {self._how_to_answer()}"
        self.attempts += 1
        outcome = "correct" if passed else "incorrect"
        record(self.lesson, self.id, outcome)
        report.send(self, "check", outcome, answers)   # classroom board only (report.py)
        if not passed:
            return verdict(outcome, f"{why.strip()}\n\nTry again, or ask for a `.hint()`.")
        return verdict(outcome, self.spec["explanation"].strip())

    def _self_assess(self, answers: tuple) -> Feedback:
        """Your own words beside the model answer, with what to compare: never "Correct"."""
        if len(answers) != 1 or not isinstance(answers[0], str):
            return verdict("incorrect", f"Type your answer as text. {self._how_to_answer()}")
        self.attempts += 1
        record(self.lesson, self.id, "self_assessed")
        report.send(self, "check", "self_assessed")   # never the text itself
        points = "\n".join(f"- {p.strip()}" for p in self.spec["compare"])
        return verdict("self_assessed", f"**Your answer:** {' '.join(answers[0].split())}\n\n"
                                        f"**Model answer:** {self.spec['model_answer'].strip()}\n\n"
                                        f"Nobody grades this: compare the two yourself.\n{points}")

    def hint(self, n: int = 1) -> Feedback:
        """Hint number `n` (1, then 2, ...); each one says how to get the next."""
        hints = self.spec["hints"]
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(hints):
            raise ValueError(f"{self.id!r} has {len(hints)} hint(s): call .hint() or .hint(n) "
                             f"with n from 1 to {len(hints)}.")
        report.send(self, "hint")
        after = (f"Want another? Call `.hint({n + 1})`." if n < len(hints)
                 else "That was the last hint: `.solution()` shows the answer and why.")
        return Feedback("hint", f"Hint {n} of {len(hints)}", f"{hints[n - 1].strip()}\n\n{after}")

    def solution(self) -> Feedback:
        """The answer, and why it is right."""
        return Feedback("solution", "Solution", f"{self._answer()}\n\n{self.spec['explanation'].strip()}")

    def _answer(self) -> str:
        spec = self.spec
        right = [f"**{letter}) {c['text']}**" for letter, c in zip(self.letters(), spec.get("choices", []))
                 if c["correct"]]
        if self.kind == "choice":
            return f"The answer is {right[0]}."
        if self.kind == "multi":
            return "These hold: " + "; ".join(right) + "."
        if self.kind == "self_check":
            return f"Model answer: {spec['model_answer'].strip()}"
        if self.kind == "numeric":
            return f"The answer is **{spec['expected']:g}{spec.get('unit', '')}**."
        return spec["solution"].strip()

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
        return render.question_widget(self)


def show(question: Question) -> None:
    """Show a question (every lesson's quiz): a clickable widget inside a Jupyter kernel,
    otherwise plain text that says how to answer with `.check(...)`."""
    render.show(question)


@dataclass
class Quiz:
    """One lesson's questions by id (every lesson): `quiz["id"]` or `quiz.q("id")`."""

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


# ---- loading a bank ----------------------------------------------------------------------------

def lessons(quiz_dir: str | Path | None = None) -> list[str]:
    """The lessons that have a quiz, like "02_stream" (lesson 00 lists them)."""
    return sorted(p.stem for p in Path(quiz_dir or QUIZ_DIR).glob("*.yaml"))


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        what = getattr(exc, "problem", None) or type(exc).__name__
        raise QuizFormatError(f"{path.name}: this is not valid YAML{where} ({what}).") from None


def load_quiz(lesson: str, quiz_dir: str | Path | None = None) -> Quiz:
    """Load one lesson's questions (every lesson ends with this): `load_quiz("02_stream")`
    or `load_quiz("02")`. A malformed file raises QuizFormatError, one line naming the
    file, the question id and the field."""
    names = lessons(quiz_dir)
    found = [n for n in names if str(lesson) in (n, n.split("_")[0])]
    if len(found) != 1:
        raise ValueError(f"No quiz for lesson {lesson!r}: use one of {', '.join(names)}.")
    path = Path(quiz_dir or QUIZ_DIR) / f"{found[0]}.yaml"
    raw = _read_yaml(path)
    check_bank(raw, path.name)
    questions = {spec["id"]: Question(found[0], spec["id"], spec) for spec in raw["questions"]}
    return Quiz(found[0], str(raw.get("title") or found[0]), questions)

