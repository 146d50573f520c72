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
"""
from __future__ import annotations

import argparse
import hmac
import ipaddress
import os
import re
import secrets
import socket
import sys
import time
from dataclasses import dataclass

from starlette.responses import JSONResponse

from .dashboard import NO_STORE, Page, Window, view
from .errors import error, rate_limited
from .state import new_row, with_aliases

# Per student, when the instructor sets none: a lesson sends a few dozen requests a
# minute at most; 8 in flight covers `batch()`'s default thread pool on a laptop.
DEFAULT_RPM = 60
DEFAULT_TPM = 40_000
DEFAULT_MAX_INFLIGHT = 8
MAX_STUDENTS = 500          # distinct names; more is a typo loop or abuse
INSTRUCTOR = "instructor"
NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
TOKEN_RE = re.compile(r"[A-Za-z0-9._~+/=-]{6,200}")
WORK_PATHS = ("/v1/chat/completions", "/v1/embeddings")

KEY_HELP = ("This is a classroom server: set your API key (LLM_API_KEY) to the class token, "
            "a colon and your name, e.g. <class token>:alice")


# ---------------------------------------------------------------- command line

def add_args(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("classroom mode (docs/INSTRUCTORS.md)")
    g.add_argument("--class-token", help="share this with the room; students use TOKEN:name as their "
                   "API key (default: env LLM_CLASS_TOKEN). Required for a non-loopback --host")
    g.add_argument("--dashboard-token", help="the instructor's token for /dashboard (default: env "
                   "LLM_DASHBOARD_TOKEN, else a random one printed at start)")
    g.add_argument("--max-inflight-per-student", type=int,
                   help=f"429 beyond this many requests in flight per student "
                        f"(classroom default {DEFAULT_MAX_INFLIGHT}; 0: no cap)")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_args(a: argparse.Namespace) -> str | None:
    """Fill in classroom defaults; a one-line reason if the server must not start."""
    if a.class_token is None and not a.parent_pid:
        # A notebook-launched simulator (--parent-pid) stays personal even if the
        # instructor's shell or .env exports LLM_CLASS_TOKEN.
        a.class_token = os.environ.get("LLM_CLASS_TOKEN") or None
    if a.dashboard_token is None:
        a.dashboard_token = os.environ.get("LLM_DASHBOARD_TOKEN") or None
    if not a.class_token:
        if not is_loopback(a.host):
            return (f"Refusing to listen on {a.host} without a class token: anyone on the network could "
                    f"use it. Add --class-token TOKEN (or set LLM_CLASS_TOKEN), e.g. "
                    f"--class-token {secrets.token_urlsafe(6)}")
        return None
    for flag, tok in (("--class-token", a.class_token), ("--dashboard-token", a.dashboard_token)):
        if tok is not None and not TOKEN_RE.fullmatch(tok):
            return (f"{flag} must be 6-200 characters of letters, digits and . _ ~ + / = - "
                    "(no colon, no spaces)")
    if a.dashboard_token == a.class_token:
        return "--dashboard-token must differ from --class-token: every student knows the class token"
    if a.rpm is None:
        a.rpm = DEFAULT_RPM
    if a.tpm is None:
        a.tpm = DEFAULT_TPM
    if a.max_inflight_per_student is None:
        a.max_inflight_per_student = DEFAULT_MAX_INFLIGHT
    if a.max_inflight_per_student < 0:
        return "--max-inflight-per-student must be 0 (no cap) or more"
    return None


# ---------------------------------------------------------------- state

@dataclass
class Identity:
    role: str   # "student" or "instructor"
    name: str


class Classroom:
    """Who may call, per-student in-flight counts, and the dashboard's moving window."""

    def __init__(self, sim, class_token: str, dashboard_token: str | None = None,
                 max_inflight: int = DEFAULT_MAX_INFLIGHT):
        self.sim = sim
        self._class = class_token.encode()
        self.dashboard_token = dashboard_token or secrets.token_urlsafe(16)
        self.token_was_generated = dashboard_token is None
        self._dash = self.dashboard_token.encode()
        self.max_inflight = max_inflight or None
        self.inflight: dict[str, int] = {}
        self.recent = Window(sim)

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
        if not NAME_RE.fullmatch(name_s) or name_s == INSTRUCTOR:
            return ("Add your name after the class token: <class token>:yourname "
                    "(1-32 of a-z 0-9 . _ -, not 'instructor').")
        if name_s not in self.sim.stats["by_key"] and len(self.sim.stats["by_key"]) >= MAX_STUDENTS:
            return f"This classroom server already has {MAX_STUDENTS} names: reuse yours."
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

    def reset(self, name: str | None) -> None:
        """Zero one student's row (name) or everything (None), keeping what is in flight."""
        self.sim.reset(name, keep_keys=True)  # every student stays on the dashboard
        if name is None:
            self.recent.clear()

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
        path, method = scope["path"], scope["method"]
        if path in ("/dashboard", "/dashboard/"):
            return await self.page.response()(scope, receive, send)
        if not (path == "/v1" or path.startswith("/v1/") or path == "/metrics"):
            return await self.app(scope, receive, send)   # /health and 404s
        auth = dict(scope["headers"]).get(b"authorization", b"")
        who = self.room.identify(auth)
        if isinstance(who, str):
            resp = error(401, who, code="invalid_api_key",
                         headers={**NO_STORE, "www-authenticate": 'Bearer realm="classroom"'})
            return await resp(scope, receive, send)
        scope["classroom.student"] = who.name
        room = self.room
        if path == "/v1/sim/classroom":
            if who.role != "instructor":
                resp = error(403, "Only the instructor's dashboard token can read the classroom view.",
                             "permission_error", code="instructor_only", headers=NO_STORE)
            else:
                resp = JSONResponse(room.dashboard(), headers=NO_STORE)
            return await resp(scope, receive, send)
        if path == "/v1/sim/stats/reset" and method == "POST":
            room.reset(who.name if who.role == "student" else None)
            view = room.student_view(who.name) if who.role == "student" else room.sim.snapshot()
            return await JSONResponse(view, headers=NO_STORE)(scope, receive, send)
        if path == "/v1/sim/stats" and method == "GET" and who.role == "student":
            return await JSONResponse(room.student_view(who.name), headers=NO_STORE)(scope, receive, send)
        if path not in WORK_PATHS or method != "POST":
            return await self.app(scope, receive, send)
        return await self.work(who.name, scope, receive, send)

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


def enable(app, a: argparse.Namespace) -> Classroom | None:
    """Put classroom mode on the app when the arguments name a class token."""
    if not a.class_token:
        return None
    room = Classroom(app.state.sim, a.class_token, a.dashboard_token, a.max_inflight_per_student)
    app.add_middleware(ClassroomGate, room=room)
    app.state.classroom = room
    return room


def lan_address() -> str | None:
    """This machine's address on the local network (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.254.254.254", 1))
            return s.getsockname()[0]
    except OSError:
        return None


def announce(room: Classroom, host: str, port: int) -> None:
    """Tell the instructor (on stderr) what to share and where the dashboard is."""
    shown = host
    if host in ("0.0.0.0", "::", ""):
        shown = lan_address() or socket.gethostname()
    base = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}"
    lim = room.limits()
    lines = [
        "Classroom mode. Students put in .env:",
        "  LLM_BACKEND=compatible",
        f"  LLM_BASE_URL={base}/v1",
        "  LLM_MODEL=sim",
        "  LLM_API_KEY=<class token>:<their name>",
        f"Per student: {lim['rpm'] or 'no'} requests/min, {lim['tpm'] or 'no'} tokens/min, "
        f"{lim['max_in_flight'] or 'no cap on'} in flight.",
    ]
    if room.token_was_generated:
        lines.append(f"Dashboard (do not project this line): {base}/dashboard#token={room.dashboard_token}")
    else:
        lines.append(f"Dashboard: {base}/dashboard  (enter your --dashboard-token)")
    print("\n".join(lines), file=sys.stderr, flush=True)


