"""How quiz feedback and questions look (all lessons): the Feedback reprs (plain text,
Markdown, HTML with a coloured bar) and the ipywidgets form of a question.

Nothing here grades: the widget's buttons call the question's own `.check()` and `.hint()`.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass

from .blank import ____

LABELS = {"correct": "Correct", "incorrect": "Not yet", "not_attempted": "Not attempted",
          "self_assessed": "Self-assessment (not graded)"}
# Okabe-Ito colours: they only add to the label word, never replace it.
COLOURS = {"correct": "#009E73", "incorrect": "#D55E00", "not_attempted": "#999999",
           "hint": "#0072B2", "solution": "#CC79A7", "self_assessed": "#56B4E9"}


def md_html(text: str) -> str:
    """Tiny Markdown to HTML: paragraphs, ``` code blocks, `code` and **bold**."""
    parts, buf, in_code = [], [], False
    for line in text.strip().splitlines() + [""]:
        if line.startswith("```") or (not in_code and not line.strip()):
            if in_code:
                parts.append("<pre>" + html.escape("\n".join(buf)) + "</pre>")
            elif buf:
                parts.append("<p>" + _inline_html("\n".join(buf)) + "</p>")
            buf, in_code = [], in_code != line.startswith("```")
        else:
            buf.append(line)
    return "\n".join(parts)


def _inline_html(text: str) -> str:
    escaped = html.escape(text).replace("\n", "<br>")
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", escaped)


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
                f"<b>{html.escape(self.label)}</b>{md_html(self.message)}</div>")


def verdict(outcome: str, message: str) -> Feedback:
    """A check's Feedback, labelled with the outcome's word."""
    return Feedback(outcome, LABELS[outcome], message)


# ---- the ipywidgets form of a question --------------------------------------------------------

def question_widget(question):
    """Children: the prompt, the answer box, a row of buttons (Check and Hint; "Compare with
    the model answer" for a self_check; only Hint for an exercise, answered in code) and the
    feedback, an HTML widget."""
    import ipywidgets as w

    feedback, (entry, read), shown = w.HTML(), _entry_widget(question, w), [0]
    label = "Compare with the model answer" if question.kind == "self_check" else "Check"
    check = w.Button(description=label, button_style="primary")
    if question.kind == "self_check":
        check.layout.width = "auto"
    hint = w.Button(description="Hint")
    check.on_click(lambda _: setattr(feedback, "value", question.check(read())._repr_html_()))

    def on_hint(_):
        shown[0] = min(shown[0] + 1, len(question.spec["hints"]))
        feedback.value = question.hint(shown[0])._repr_html_()

    hint.on_click(on_hint)
    buttons = [hint] if question.kind == "exercise" else [check, hint]
    return w.VBox([w.HTML(md_html(question.spec["prompt"])), entry, w.HBox(buttons), feedback])


def _entry_widget(question, w):
    """The answer box, and a function that reads the answer from it."""
    labels = [(f"{letter}) {choice['text'].replace('`', '')}", letter)
              for letter, choice in zip(question.letters(), question.spec.get("choices", []))]
    wide = w.Layout(width="max-content")
    if question.kind == "choice":
        box = w.RadioButtons(options=labels, value=None, layout=wide)
    elif question.kind == "multi":
        ticks = [w.Checkbox(description=text, indent=False, layout=wide) for text, _ in labels]
        return w.VBox(ticks), lambda: [letter for t, (_, letter) in zip(ticks, labels) if t.value] or ____
    elif question.kind == "self_check":
        box = w.Textarea(placeholder="Type your answer here", description="Your answer",
                         style={"description_width": "initial"}, layout=w.Layout(width="100%"))
    elif question.kind == "numeric":
        unit = f" ({question.spec['unit'].strip()})" if question.spec.get("unit", "").strip() else ""
        box = w.Text(placeholder="a number", description=f"Your answer{unit}", style={"description_width": "initial"})
    else:
        box = w.HTML(md_html(question._how_to_answer()))   # exercises are answered in code
    return box, lambda: box.value


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None


def show(question) -> None:
    """Show a question (every lesson's quiz): a clickable widget inside a Jupyter kernel,
    otherwise plain text that says how to answer with `.check(...)`."""
    if _in_kernel():
        from IPython.display import display
        display(question.widget())
    else:
        print(question.text())
