"""Classroom mode: one simulator for a whole room (see docs/INSTRUCTORS.md).

    python -m helpers.llm_server --host 0.0.0.0 --port 8000 --class-token TOKEN

Who is who, from the API key (the OpenAI clients send it as `Authorization: Bearer KEY`):

* a student's key is the class token, a colon and their name: `TOKEN:alice`.
  Names are 1-32 of a-z 0-9 . _ - (lower-cased), so any OpenAI client works.
* the instructor's key is the dashboard token (`--dashboard-token`, or a random
  one printed at start). Students know the class token, so it can never be
  "class token + something".

Every /v1 route needs one of the two (else 401 in OpenAI's error shape); /health
stays open and shows room totals only. The name (never the key) is the
rate-limit key, so limits are per student, and one student may have at most
`--max-inflight-per-student` requests in flight (429 beyond).
A student's GET /v1/sim/stats shows only their own numbers and POST
/v1/sim/stats/reset zeroes only their own row. The dashboard page (/dashboard)
holds no data; it polls /v1/sim/classroom, which needs the instructor's token.
The dashboard's window, data and page are in dashboard.py.

Names (per-address cap, idle expiry, roster, reserved names, failed-login throttle):
names.py; the instructor lists/removes them at /v1/sim/classroom/names(/remove). A POST
that changes state must be JSON (a cross-site form cannot send it). CLI: classroom_cli.py.
"""
from __future__ import annotations

import argparse
import hmac
import json
import math
import secrets
import time
from dataclasses import dataclass

from starlette.responses import JSONResponse

from .classroom_cli import DEFAULT_MAX_INFLIGHT, NAME_RE, add_args, announce, check_args  # noqa: F401
from .dashboard import NO_STORE, Page, Window, view
from .errors import error, rate_limited
from .names import LoginThrottle, NameTable, reserved
from .state import new_row, with_aliases

INSTRUCTOR = "instructor"
WORK_PATHS = ("/v1/chat/completions", "/v1/embeddings")
NAMES_PATH = "/v1/sim/classroom/names"

KEY_HELP = ("This is a classroom server: set your API key (LLM_API_KEY) to the class token, "
            "a colon and your name, e.g. <class token>:alice")


# ---------------------------------------------------------------- state

@dataclass
class Identity:
    role: str   # "student" or "instructor"
    name: str


class Classroom:
    """Who may call, per-student in-flight counts, and the dashboard's moving window."""

    def __init__(self, sim, class_token: str, dashboard_token: str | None = None,
                 max_inflight: int = DEFAULT_MAX_INFLIGHT, names: NameTable | None = None):
        self.sim = sim
        self._class = class_token.encode()
        self.dashboard_token = dashboard_token or secrets.token_urlsafe(16)
        self.token_was_generated = dashboard_token is None
        self._dash = self.dashboard_token.encode()
        self.max_inflight = max_inflight or None
        self.inflight: dict[str, int] = {}
        self.recent = Window(sim)
        self.names = names or NameTable()
        self.names.on_forget = self.forget
        self.logins = LoginThrottle()

    def forget(self, name: str) -> None:
        """A name left the table: drop what the server kept for it."""
        if not self.inflight.get(name):
            self.inflight.pop(name, None)
            self.sim.forget(name)

    def identify(self, auth: bytes) -> Identity | str:
        """The caller, or the reason (one line) why not. Never echoes the key."""
        key = auth[7:].strip() if auth[:7].lower() == b"bearer " else auth.strip()
        if key and hmac.compare_digest(key, self._dash):
            return Identity("instructor", INSTRUCTOR)
        token, sep, name = key.rpartition(b":")
        if not sep:
            token, name = key, b""
        if not key or not hmac.compare_digest(token, self._class):
            return f"Incorrect API key. {KEY_HELP}."
        try:
            name_s = name.decode("ascii").strip().lower()
        except UnicodeDecodeError:
            name_s = ""
        if not NAME_RE.fullmatch(name_s) or reserved(name_s):
            return ("Add your name after the class token: <class token>:yourname "
                    "(1-32 of a-z 0-9 . _ -, not 'instructor').")
        return Identity("student", name_s)

    # -- views
    def limits(self) -> dict:
        p, ts = self.sim.cfg.profile, self.sim.cfg.profile.time_scale
        return {"rpm": p.rpm_limit, "tpm": p.tpm_limit, "max_in_flight": self.max_inflight,
                "minute_s": 60.0 * ts}

    def room(self) -> dict:
        snap = self.sim.snapshot()
        return {"in_flight": snap["in_flight"], "busy_slots": snap["busy_slots"],
                "queue_depth": snap["queue_depth"], "slots": self.sim.cfg.profile.slots}

    def student_view(self, name: str) -> dict:
        per = with_aliases(self.sim.stats["by_key"].get(name) or new_row())
        return {"student": name, **per, "room": self.room(), "limits": self.limits()}

    def reset(self, name: str | None, forget_names: bool = False) -> None:
        """Zero one student's row (name) or everything (None), keeping what is in flight.
        The instructor's reset keeps the names (every student stays on the dashboard)
        unless `forget_names`: then names with nothing in flight are removed too."""
        self.sim.reset(name, keep_keys=True)
        if name is None:
            self.recent.clear()
            if forget_names:
                for n in [n for n, e in self.names.rows.items() if not e.in_flight]:
                    self.names.forget(n)

    def dashboard(self) -> dict:
        return view(self.sim, self.room(), self.limits(), self.recent, hide=INSTRUCTOR)


# ---------------------------------------------------------------- HTTP

class ClassroomGate:
    """ASGI middleware: authenticates every /v1 request and serves the classroom routes."""

    def __init__(self, app, room: Classroom):
        self.app, self.room = app, room
        self.page = Page()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path in ("/dashboard", "/dashboard/"):
            return await self.page.response()(scope, receive, send)
        if not (path == "/v1" or path.startswith("/v1/") or path == "/metrics"):
            return await self.app(scope, receive, send)   # /health and 404s
        headers = dict(scope["headers"])
        room, address = self.room, (scope.get("client") or ("?", 0))[0]
        wait = room.logins.wait_s(address)
        if wait:   # too many failed logins from this address in the last minute
            resp = error(429, f"Too many failed logins from your address: try again in {wait:.0f} s.",
                         "requests", "too_many_failed_logins",
                         headers={**NO_STORE, "retry-after": str(max(1, math.ceil(wait)))})
            return await resp(scope, receive, send)
        who = room.identify(headers.get(b"authorization", b""))
        if isinstance(who, str):
            room.logins.failed(address)
            resp = error(401, who, code="invalid_api_key",
                         headers={**NO_STORE, "www-authenticate": 'Bearer realm="classroom"'})
            return await resp(scope, receive, send)
        if who.role == "student":
            refused = room.names.admit(who.name, address)
            if refused:
                return await error(403, refused, "permission_error", code="name_refused",
                                   headers=NO_STORE)(scope, receive, send)
            return await self.student(who, scope, receive, send)
        return await self.route(who, scope, receive, send)

    async def student(self, who, scope, receive, send) -> None:
        """A student's request, with its name's in-flight count and its final status (names.py)."""
        names, status = self.room.names, [0]

        async def send_(msg) -> None:
            if msg["type"] == "http.response.start":
                status[0] = msg["status"]
            await send(msg)
        names.started(who.name)
        try:
            await self.route(who, scope, receive, send_)
        finally:
            names.ended(who.name, status[0])

    async def route(self, who, scope, receive, send) -> None:
        path, method, room = scope["path"], scope["method"], self.room
        scope["classroom.student"] = who.name
        if path == NAMES_PATH or path == NAMES_PATH + "/remove":
            return await self.names_route(who, scope, receive, send)
        if path == "/v1/sim/classroom":
            if who.role != "instructor":
                resp = error(403, "Only the instructor's dashboard token can read the classroom view.",
                             "permission_error", code="instructor_only", headers=NO_STORE)
            else:
                resp = JSONResponse(room.dashboard(), headers=NO_STORE)
            return await resp(scope, receive, send)
        if path == "/v1/sim/stats/reset" and method == "POST":
            body = await json_body(scope, receive)
            if body is None:
                return await not_json()(scope, receive, send)
            room.reset(who.name if who.role == "student" else None, bool(body.get("forget_names")))
            view = room.student_view(who.name) if who.role == "student" else room.sim.snapshot()
            return await JSONResponse(view, headers=NO_STORE)(scope, receive, send)
        if path == "/v1/sim/stats" and method in ("GET", "HEAD") and who.role == "student":
            return await JSONResponse(room.student_view(who.name), headers=NO_STORE)(scope, receive, send)
        if path not in WORK_PATHS or method != "POST":
            return await self.app(scope, receive, send)
        return await self.work(who.name, scope, receive, send)

    async def names_route(self, who, scope, receive, send) -> None:
        """GET NAMES_PATH lists the names; POST NAMES_PATH/remove {"names": [...], "block": bool}
        removes them (and, with block, keeps them out until the server restarts)."""
        room, path, method = self.room, scope["path"], scope["method"]
        if who.role != "instructor":
            resp = error(403, "Only the instructor's dashboard token can list or remove names.",
                         "permission_error", code="instructor_only", headers=NO_STORE)
        elif path == NAMES_PATH and method in ("GET", "HEAD"):
            resp = JSONResponse({"names": room.names.listing(), "blocked": sorted(room.names.blocked),
                                 "policy": room.names.policy()}, headers=NO_STORE)
        elif path == NAMES_PATH + "/remove" and method == "POST":
            body = await json_body(scope, receive)
            if body is None:
                return await not_json()(scope, receive, send)
            names = body.get("names")
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                return await not_json('Send JSON {"names": ["alice", ...], "block": false}.')(
                    scope, receive, send)
            names = [n.strip().lower() for n in names][:1000]
            removed = [n for n in names if room.names.forget(n)]
            if body.get("block"):
                room.names.blocked.update(n for n in names if NAME_RE.fullmatch(n))
            resp = JSONResponse({"removed": removed, "blocked": sorted(room.names.blocked)}, headers=NO_STORE)
        else:
            resp = error(405, f"{method} {path}: method not allowed", headers=NO_STORE)
        return await resp(scope, receive, send)

    async def work(self, name: str, scope, receive, send) -> None:
        """A chat or embeddings request: the per-student in-flight cap, then timing."""
        room, sim = self.room, self.room.sim
        cap = room.max_inflight
        if cap is not None and room.inflight.get(name, 0) >= cap:
            sim.count(name, "attempts")
            wait = 0.5 * sim.cfg.profile.time_scale
            resp = rate_limited(sim, name, f"Too many requests in flight: at most {cap} at once per "
                                           "student on this classroom server (lower max_concurrency)", wait)
            room.recent.finished(name, 429, 0.0)
            return await resp(scope, receive, send)
        room.inflight[name] = room.inflight.get(name, 0) + 1
        t0, status, counted = time.perf_counter(), [0], [True]

        def leave() -> None:
            if counted[0]:
                counted[0] = False
                room.inflight[name] -= 1
                if not room.inflight[name]:
                    del room.inflight[name]   # no entry for an idle name
                room.recent.finished(name, status[0], time.perf_counter() - t0)

        async def send_(msg) -> None:
            if msg["type"] == "http.response.start":
                status[0] = msg["status"]
            elif msg["type"] == "http.response.body" and not msg.get("more_body"):
                leave()  # before the last bytes go out: the client's next request sees it gone
            await send(msg)
        try:
            await self.app(scope, receive, send_)
        finally:
            leave()


async def json_body(scope, receive, limit: int = 65536) -> dict | None:
    """The body as a JSON object, or None unless it is sent as application/json (a
    cross-site HTML form can only send text/plain, urlencoded or multipart: this
    keeps a page elsewhere from resetting the room's counters). An empty body is {}."""
    ctype = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()
    if ctype != b"application/json":
        return None
    raw, more = b"", True
    while more and len(raw) <= limit:
        msg = await receive()
        if msg["type"] != "http.request":
            return None
        raw += msg.get("body", b"")
        more = msg.get("more_body", False)
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) and len(raw) <= limit else None


def not_json(msg: str = "Send this POST with Content-Type: application/json (e.g. the body {}).") -> JSONResponse:
    return error(415 if "Content-Type" in msg else 400, msg, code="json_required", headers=NO_STORE)


def enable(app, a: argparse.Namespace) -> Classroom | None:
    """Put classroom mode on the app when the arguments name a class token."""
    if not a.class_token:
        return None
    names = NameTable(a.max_names, a.names_per_address or None, getattr(a, "roster_names", None))
    room = Classroom(app.state.sim, a.class_token, a.dashboard_token, a.max_inflight_per_student, names)
    app.add_middleware(ClassroomGate, room=room)
    app.state.classroom = room
    from . import board  # the misconception board: its routes sit behind the gate
    board.install(app, room)
    return room
