"""Quiz questions and exercise checks for every lesson (00 to 06).

The questions are data, one YAML bank per lesson in `helpers/quiz/banks/`.
This package turns them into objects you answer in a notebook cell:

    quiz = load_quiz("02_stream")
    quiz.show("stream_faster")              # a widget in Jupyter, plain text elsewhere
    quiz["stream_faster"].check("b")        # Correct / Not yet / Not attempted
    quiz["stream_faster"].hint()            # then .hint(2); .solution() explains why

Kinds: choice (one answer), multi (every choice that holds), numeric, exercise (your own code,
checked against your run by `checks.py` where it can be), and self_check: free text is never
marked Correct; it is shown beside a model answer for you to compare. Lesson 00 shows how
checks work. Each check records your best outcome (where: see `progress.py`).

Where a change goes (for course authors):
  banks/*.yaml   the questions themselves          schema.py   the YAML format (pydantic)
  model.py       Question, Quiz, load_quiz         grading.py  how each kind is judged
  checks.py      named checks that judge a run     render.py   Feedback reprs and widgets
  progress.py    the progress record               validation.py  one-line errors for a bad bank
  blank.py       the `____` placeholder             report.py   checks on the classroom board (opt-out)
"""
from .blank import ____, _Blank, _is_blank  # noqa: F401 -- lessons/compare.py and batch_lab.py use them
from .model import Question, Quiz, lessons, load_quiz, show
from .progress import progress_summary
from .render import COLOURS, LABELS, Feedback  # noqa: F401 -- colours and words of the outcomes
from .validation import QuizFormatError

__all__ = ["____", "Feedback", "Question", "Quiz", "QuizFormatError", "lessons", "load_quiz",
           "progress_summary", "show"]
