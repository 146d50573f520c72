"""One-line, actionable errors for learners (used by every lesson).

A `CourseError` carries a message of the form "what happened: what to do".
In Jupyter, `helpers` installs a handler that prints such errors -- and the
common OpenAI/LangChain errors, explained -- as one line instead of a long
traceback. Plain Python scripts see a normal exception with the same message.
"""
from __future__ import annotations


class CourseError(Exception):
    """An error a learner can fix; its message says what to do (all lessons)."""


class BackendError(CourseError):
    """The chosen backend is misconfigured or unreachable (lesson 00)."""
