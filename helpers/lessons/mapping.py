"""The real-world mapping exercise of lesson 04: which mode (invoke, stream, batch) fits
each scenario, checked by the quiz's own questions, as a function and as a widget.
"""
from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import ipywidgets as w

from ..quiz import Feedback, Question, ____


@dataclass(frozen=True)
class MappingResult:
    """What the scenario check says (lesson 04): the overall feedback, and per scenario
    None (not chosen yet), "" (fits) or why it needs another look."""

    feedback: Feedback
    scenarios: dict


def _accepted(question: Question) -> dict[str, set[str]]:
    answers = question.spec["expect"]["answers"]
    return {k: {str(v).strip().lower() for v in ok} for k, ok in answers.items()}


def check_mapping(questions: Sequence[Question], modes: dict) -> MappingResult:
    """Check {scenario: mode} against one or more mapping exercises of the quiz (lesson 04).

    Each question's own `check` decides (and records your progress); a scenario
    left empty ("" or None) reads as not attempted.
    """
    rows: dict[str, str | None] = {}
    verdicts = []
    for q in questions:
        part = {k: modes.get(k) or ____ for k in q.spec["expect"]["answers"]}
        verdicts.append(q.check(part))
        for key, ok in _accepted(q).items():
            given = modes.get(key)
            rows[key] = (None if not given else
                         "" if str(given).strip().lower() in ok else q.spec["expect"]["feedback"][key])
    if any(v.outcome == "not_attempted" for v in verdicts):
        empty = sum(v is None for v in rows.values())
        fb = Feedback("not_attempted", "Not attempted", f"Choose a mode for every scenario ({empty} left).")
    elif all(v.outcome == "correct" for v in verdicts):
        fb = Feedback("correct", "Correct", "\n\n".join(q.spec["explanation"].strip() for q in questions))
    else:
        wrong = sum(bool(v) for v in rows.values())
        fb = Feedback("incorrect", "Not yet", f"{wrong} of {len(rows)} scenarios need another look: "
                      "read the note beside each one, or ask for a hint.")
    return MappingResult(fb, rows)


class MappingWidget(w.VBox):
    """The scenario -> mode exercise as ipywidgets (lesson 04): a Dropdown per scenario,
    Check and Hint buttons, a note beside each scenario and the overall feedback.
    A thin skin over `check_mapping`. Parts: `.dropdowns` and `.notes` (by scenario),
    `.check_button`, `.hint_button`, `.feedback`."""

    def __init__(self, questions: Sequence[Question]):
        self.questions = tuple(questions)
        keys = [k for q in self.questions for k in q.spec["expect"]["answers"]]
        options = [("choose…", ""), ("invoke", "invoke"), ("stream", "stream"), ("batch", "batch")]
        # The scenario is the dropdown's own label (its accessible name), 360 px wide as before.
        self.dropdowns = {k: w.Dropdown(options=options, value="", description=k,
                                        style={"description_width": "360px"}, layout=w.Layout(width="470px"))
                          for k in keys}
        self.notes = {k: w.HTML(layout=w.Layout(flex="1 1 0%")) for k in keys}
        self.check_button = w.Button(description="Check", button_style="primary")
        self.hint_button = w.Button(description="Hint")
        self.feedback, self._hints_shown = w.HTML(), 0
        self.check_button.on_click(self._on_check)
        self.hint_button.on_click(self._on_hint)
        rows = [w.HBox([self.dropdowns[k], self.notes[k]]) for k in keys]
        super().__init__(rows + [w.HBox([self.check_button, self.hint_button]), self.feedback])

    def result(self) -> MappingResult:
        """Check the dropdowns' current choices."""
        return check_mapping(self.questions, {k: d.value for k, d in self.dropdowns.items()})

    def _on_check(self, _button) -> None:
        res = self.result()
        for key, note in res.scenarios.items():
            self.notes[key].value = ("" if note is None else "<b>✓ Fits</b>" if note == ""
                                     else f"<b>Not yet:</b> {html.escape(note)}")
        self.feedback.value = res.feedback._repr_html_()

    def _on_hint(self, _button) -> None:
        first = self.questions[0]
        self._hints_shown = min(self._hints_shown + 1, len(first.spec["hints"]))
        hint = first.hint(self._hints_shown)
        message = hint.message.split("\n\n")[0]   # the widget's button, not .hint(n), gives the next one
        self.feedback.value = Feedback("hint", hint.label, message)._repr_html_()


def mapping_widget(*questions: Question) -> MappingWidget:
    """The real-world mapping exercise as a widget (lesson 04), e.g.
    `mapping_widget(quiz["real_world"], quiz["real_world_more"])`."""
    return MappingWidget(questions)
