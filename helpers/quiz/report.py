"""Quiz checks on the classroom board (all lessons; lesson 00 says so where quizzes start).

In classroom mode (LLM_BACKEND=compatible with a class key `<class token>:<name>` in
LLM_API_KEY, see docs/INSTRUCTORS.md), each check and hint is sent to the class server's
misconception board: the lesson, the question id, the event ("check" or "hint"), the
outcome word and, for a choice or multi question, the letters chosen. Never your text,
never a number you typed. The name travels only in the API key, as with every request,
and the server keeps a salted hash of it.

Off with COURSE_BOARD=off (or 0, false, no). In self-study (any other backend, or a key
without a class token) nothing is sent anywhere. A post never slows or breaks a check:
it runs on one background thread (so a student's checks arrive in order) with a short
timeout, and a failure is one debug line.
"""
from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time

import httpx

from .grading import _pick

log = logging.getLogger(__name__)
TIMEOUT_S = 2.0
OFF = {"off", "0", "false", "no"}
_queue: queue.Queue = queue.Queue(maxsize=100)   # full (a server that never answers): posts are dropped
_worker: list[threading.Thread] = []


def target() -> tuple[str, str] | None:
    """(board URL, API key) in classroom mode with the board on; None otherwise."""
    if os.environ.get("COURSE_BOARD", "on").strip().lower() in OFF:
        return None
    from ..backends import load_env  # .env may hold the classroom settings
    load_env()
    if os.environ.get("COURSE_BOARD", "on").strip().lower() in OFF:
        return None
    key, url = os.environ.get("LLM_API_KEY", "").strip(), os.environ.get("LLM_BASE_URL", "").strip()
    if os.environ.get("LLM_BACKEND", "sim").strip().lower() != "compatible" or not url:
        return None
    token, sep, name = key.rpartition(":")
    if not (sep and token and name):
        return None   # not a class key: not a classroom
    return url.rstrip("/") + "/sim/board", key


def _post(url: str, key: str, payload: dict) -> None:
    try:
        httpx.post(url, json=payload, timeout=TIMEOUT_S, headers={"Authorization": f"Bearer {key}"})
    except Exception as exc:  # noqa: BLE001 -- the board is never worth a failed check
        log.debug("quiz board: not sent (%s)", type(exc).__name__)


def _work() -> None:
    while True:
        item = _queue.get()
        try:
            _post(*item)
        finally:
            _queue.task_done()


def send(question, event: str, outcome: str | None = None, answers: tuple = ()) -> None:
    """Post one check or hint of `question` (a model.Question) to the board, in the background."""
    try:
        where = target()
        if where is None:
            return
        payload = {"lesson": question.lesson, "question": question.id, "event": event}
        if event == "check":
            payload["outcome"] = outcome
            letters = _letters(question, answers)
            if letters:
                payload["choices"] = letters
        if not _worker:
            _worker.append(threading.Thread(target=_work, daemon=True, name="quiz-board"))
            _worker[0].start()
        _queue.put_nowait((*where, payload))
    except Exception as exc:  # noqa: BLE001
        log.debug("quiz board: not sent (%s)", type(exc).__name__)


def _letters(question, answers: tuple) -> list[str] | None:
    """The letters of a choice or multi answer (as grading reads it), only if every item names
    one of the question's choices: anything else sends no choices at all."""
    if question.kind not in ("choice", "multi") or len(answers) != 1:
        return None
    given = answers[0]
    if question.kind == "multi" and isinstance(given, str):
        given = re.split(r"[,;\s]+", given.strip())
    items = [given] if question.kind == "choice" else given
    if not isinstance(items, (list, tuple, set)) or not items:
        return None
    choices, letters = question.spec["choices"], []
    for item in items:
        picked = _pick(question, item)
        if picked is None:
            return None
        letters.append(question.letters()[choices.index(picked)])
    return sorted(set(letters))


def pending() -> int:
    """Posts not finished yet."""
    return _queue.unfinished_tasks


def flush(timeout_s: float = 5.0) -> bool:
    """Wait until every post has been tried (tests use this); False if still busy after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while _queue.unfinished_tasks and time.monotonic() < deadline:
        time.sleep(0.01)
    return not _queue.unfinished_tasks
