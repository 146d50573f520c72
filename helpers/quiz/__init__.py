"""Quiz questions and exercise checks for every lesson (see `model.py`)."""
from .model import (____, Feedback, Question, Quiz, QuizFormatError, _SCHEMA, COLOURS, _Blank, _is_blank, _progress_path,
                    lessons, load_quiz, progress_summary, show)
from .model import __all__  # noqa: F401
