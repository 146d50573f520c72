"""The misconception board of a classroom server (see classroom.py and docs/INSTRUCTORS.md).

Each quiz check a student makes in classroom mode is sent here by `helpers/quiz/report.py`:
POST /v1/sim/board with {"lesson", "question", "event": "check" | "hint", "outcome",
"choices"}. Only ids the quiz banks know are kept: a lesson, a question id, choice letters
and an outcome word, never text. The student is known from the API key (the gate checked
it) and kept only as a salted hash: the salt is made at start and never leaves the server.

GET /v1/sim/board (instructor's token) answers, per question: how many students answered,
how their first answers spread over the choices (with the misconception each wrong
choice reveals, from the `misconception:` tags of the banks), how many are correct now,
and the share who asked for a hint. POST /v1/sim/board/control {"action": "hide" |
"reveal" | "reset"} hides the spread until revealed, or forgets every answer.
/board is the page that shows it, guarded by the token as /dashboard is.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from base64 import b64encode
from pathlib import Path

import yaml
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from .dashboard import NO_STORE
from .errors import error

BANKS = Path(__file__).resolve().parents[1] / "quiz" / "banks"
HTML_FILE = Path(__file__).with_name("board.html")
OUTCOMES = {"check": ("correct", "incorrect", "self_assessed"), "hint": (None,)}
INSTRUCTOR = "instructor"   # the instructor's name on the gate (a reserved name for students)


def catalog(banks: Path = BANKS) -> dict:
    """{(lesson, question id): {"kind", "prompt", "choices": [{"letter", "text", "correct",
    "misconception"}]}} from the quiz banks, read as data (the server imports no quiz code)."""
    out = {}
    for path in sorted(banks.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for q in raw.get("questions", []):
            choices = [{"letter": "abcdefghij"[i], "text": c["text"], "correct": bool(c["correct"]),
                        "misconception": c.get("misconception")} for i, c in enumerate(q.get("choices", []))]
            out[(path.stem, q["id"])] = {"kind": q["kind"], "prompt": " ".join(str(q["prompt"]).split()),
                                         "choices": choices}
    return out


class Board:
    """Each student's first and latest answer per question, and whether they took a hint."""

    def __init__(self, banks: Path = BANKS):
        self.questions = catalog(banks)
        self._salt = secrets.token_bytes(32)
        self.hidden = False
        self.rows: dict[tuple, dict[str, dict]] = {}   # (lesson, qid) -> student hash -> record

    def student_id(self, name: str) -> str:
        """A salted hash of the name: the same student is one row, and the name is not kept."""
        return hmac.new(self._salt, name.encode(), hashlib.sha256).hexdigest()[:16]

    def parse(self, body: dict) -> tuple | str:
        """(lesson, qid, event, outcome, letters) from a POST body, or why not (one line)."""
        if set(body) - {"lesson", "question", "event", "outcome", "choices"}:
            return "Only lesson, question, event, outcome and choices are accepted."
        key, event = (body.get("lesson"), body.get("question")), body.get("event")
        q = self.questions.get(key) if all(isinstance(k, str) for k in key) else None
        if q is None:
            return "Unknown lesson or question id."
        if event not in OUTCOMES or body.get("outcome") not in OUTCOMES[event]:
            return 'Send event "check" with outcome correct, incorrect or self_assessed, or event "hint".'
        letters, choices = body.get("choices"), q["choices"]
        if letters is not None:
            valid = {c["letter"] for c in choices}
            if (event != "check" or not isinstance(letters, list) or not letters
                    or not all(isinstance(x, str) and x in valid for x in letters)):
                return "choices must be letters of the question's choices."
            letters = sorted(set(letters))
            if q["kind"] == "choice" and len(letters) != 1:
                return "A choice question takes one letter."
        return key, event, body.get("outcome"), letters

    def add(self, name: str, parsed: tuple) -> None:
        key, event, outcome, letters = parsed
        rec = self.rows.setdefault(key, {}).setdefault(self.student_id(name), {
            "first": None, "first_outcome": None, "latest": None, "outcome": None, "hint": False})
        if event == "hint":
            rec["hint"] = True
            return
        if rec["outcome"] is None:
            rec["first"], rec["first_outcome"] = letters, outcome
        rec["latest"], rec["outcome"] = letters, outcome

    def reset(self) -> None:
        self.rows.clear()

    def view(self) -> dict:
        """Per question with any activity, in the banks' order: the spread of first answers
        (hidden: only how many answered), correct now, and the share who took a hint."""
        out = []
        for key, q in self.questions.items():
            recs = list(self.rows.get(key, {}).values())
            if not recs:
                continue
            answered = [r for r in recs if r["outcome"] is not None]
            item = {"lesson": key[0], "question": key[1], "kind": q["kind"], "prompt": q["prompt"],
                    "students": len(recs), "answered": len(answered)}
            if not self.hidden:
                item["correct_now"] = sum(r["outcome"] == "correct" for r in answered)
                item["self_assessed"] = sum(r["outcome"] == "self_assessed" for r in answered)
                item["hinted"] = sum(r["hint"] for r in recs)
                item["hint_share"] = item["hinted"] / len(recs)
                item["first_correct"] = sum(r["first_outcome"] == "correct" for r in answered)
                item["choices"] = [{**c, "first": sum(c["letter"] in (r["first"] or ()) for r in answered),
                                    "latest": sum(c["letter"] in (r["latest"] or ()) for r in answered)}
                                   for c in q["choices"]]
            out.append(item)
        return {"hidden": self.hidden, "students": len({s for v in self.rows.values() for s in v}),
                "questions": out}


# ---------------------------------------------------------------- HTTP

def _who(request: Request) -> str | None:
    return request.scope.get("classroom.student")   # set by classroom.ClassroomGate


async def _json(request: Request) -> dict | None:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        return None
    raw = await request.body()
    if len(raw) > 4096:
        return None
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def routes(board: Board) -> list[Route]:
    async def answers(request: Request) -> Response:
        who = _who(request)
        if request.method in ("GET", "HEAD"):
            if who != INSTRUCTOR:
                return error(403, "Only the instructor's dashboard token can read the board.",
                             "permission_error", code="instructor_only", headers=NO_STORE)
            return JSONResponse(board.view(), headers=NO_STORE)
        if who is None or who == INSTRUCTOR:
            return error(403, "Only a student's key can post an answer to the board.",
                         "permission_error", code="students_only", headers=NO_STORE)
        body = await _json(request)
        parsed = board.parse(body) if body is not None else "Send JSON (Content-Type: application/json)."
        if isinstance(parsed, str):
            return error(400, parsed, code="bad_board_answer", headers=NO_STORE)
        board.add(who, parsed)
        return Response(status_code=204, headers=NO_STORE)

    async def control(request: Request) -> Response:
        if _who(request) != INSTRUCTOR:
            return error(403, "Only the instructor's dashboard token can change the board.",
                         "permission_error", code="instructor_only", headers=NO_STORE)
        body = await _json(request)
        action = (body or {}).get("action")
        if action not in ("hide", "reveal", "reset"):
            return error(400, 'Send JSON {"action": "hide" | "reveal" | "reset"}.', code="bad_action",
                         headers=NO_STORE)
        if action == "reset":
            board.reset()
        else:
            board.hidden = action == "hide"
        return JSONResponse(board.view(), headers=NO_STORE)

    page = Page()

    async def board_page(request: Request) -> Response:
        return page.response()
    return [Route("/v1/sim/board", answers, methods=["GET", "POST"]),
            Route("/v1/sim/board/control", control, methods=["POST"]),
            Route("/board", board_page, methods=["GET"])]


class Page:
    """The board page, with a Content-Security-Policy of hashes of its inline script and style."""

    def __init__(self):
        self.html = HTML_FILE.read_text(encoding="utf-8")

        def h(tag: str) -> str:
            body = re.search(rf"<{tag}>(.*?)</{tag}>", self.html, re.S).group(1)
            return "'sha256-" + b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        self.csp = (f"default-src 'none'; script-src {h('script')}; style-src {h('style')}; "
                    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
                    "frame-ancestors 'none'")

    def response(self) -> HTMLResponse:
        return HTMLResponse(self.html, headers={**NO_STORE, "content-security-policy": self.csp,
                                                "x-frame-options": "DENY"})


def install(app, room) -> Board:
    """Add the board's routes to a classroom app (classroom.enable calls this)."""
    board = Board()
    app.router.routes.extend(routes(board))
    app.state.board = board
    room.board = board
    return board
