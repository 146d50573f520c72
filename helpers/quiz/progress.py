"""Your progress through the quizzes (all lessons; lesson 00 shows `progress_summary()`).

Each check records the question's best outcome (correct, then self_assessed, then incorrect)
and how many times you checked it, in one JSON file. Where that file lives:
  1. COURSE_PROGRESS=off (or 0, false, no): nothing is recorded, nothing is read.
  2. COURSE_PROGRESS_DIR set: `$COURSE_PROGRESS_DIR/progress.json`.
  3. Otherwise: `~/.invoke_stream_batch/progress.json` in your home folder. The same file
     whether the course is a git checkout or an installed (read-only) package, and whichever
     folder the notebook runs from.
A folder that can't be written never fails a check: the check answers as usual and one line
on stderr (once per file) says the progress was not saved and how to fix it.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HOME_FOLDER = ".invoke_stream_batch"
_RANK = ["incorrect", "self_assessed", "correct"]
_noted: set[str] = set()


def _note(where: object, exc: BaseException) -> None:
    """One line, once per place: the check itself still answers."""
    if str(where) not in _noted:
        _noted.add(str(where))
        print(f"Progress not saved: can't write {where} ({type(exc).__name__}). Set COURSE_PROGRESS_DIR "
              "to a folder you can write, or COURSE_PROGRESS=off.", file=sys.stderr)


def progress_path() -> Path | None:
    """The progress file (see the module docstring for the rule), or None when switched off."""
    if os.environ.get("COURSE_PROGRESS", "on").strip().lower() in {"off", "0", "false", "no"}:
        return None
    if os.environ.get("COURSE_PROGRESS_DIR"):
        return Path(os.environ["COURSE_PROGRESS_DIR"]).expanduser() / "progress.json"
    try:
        return Path.home() / HOME_FOLDER / "progress.json"
    except RuntimeError as exc:                 # no home folder can be found
        _note("your home folder", exc)
        return None


def read_progress(path: Path | None) -> dict:
    """The recorded outcomes, {"lesson/id": {"best": ..., "checks": n}}; {} if none or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path else {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _best(new: str, old: object) -> str:
    return max((new, old), key=lambda b: _RANK.index(b) if b in _RANK else -1)


def record(lesson: str, qid: str, outcome: str) -> None:
    """Keep each question's best outcome; a failed write never fails your cell."""
    path = progress_path()
    if path is None:
        return
    data = read_progress(path)
    old = data.get(f"{lesson}/{qid}")
    old = old if isinstance(old, dict) else {}
    checks = old["checks"] if isinstance(old.get("checks"), int) else 0
    data[f"{lesson}/{qid}"] = {"best": _best(outcome, old.get("best")), "checks": checks + 1}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        _note(path, exc)


def progress_summary() -> dict:
    """Your best outcome per question, by lesson (lesson 00 shows it), like
    {"02_stream": {"correct": 1, "tried": 2, "total": 4,
                   "questions": {"stream_faster": "correct", ...}}}.
    Questions you haven't checked yet read "not_attempted"."""
    from .model import lessons, load_quiz  # the model records through this module

    data, summary = read_progress(progress_path()), {}
    for lesson in lessons():
        entries = {qid: data.get(f"{lesson}/{qid}") for qid in load_quiz(lesson).questions}
        best = {qid: e.get("best", "not_attempted") if isinstance(e, dict) else "not_attempted"
                for qid, e in entries.items()}
        summary[lesson] = {"correct": sum(b == "correct" for b in best.values()),
                           "tried": sum(b != "not_attempted" for b in best.values()),
                           "total": len(best), "questions": best}
    return summary
