"""Classroom mode's command line: its flags, their defaults and the checks that
refuse to start (see classroom.py and docs/INSTRUCTORS.md)."""
from __future__ import annotations

import argparse
import ipaddress
import os
import re
import secrets
import socket
import sys

from .names import MAX_NAMES, NAMES_PER_ADDRESS, reserved

# Per student, when the instructor sets none: a lesson sends a few dozen requests a
# minute at most; 8 in flight covers `batch()`'s default thread pool on a laptop.
DEFAULT_RPM = 60
DEFAULT_TPM = 40_000
DEFAULT_MAX_INFLIGHT = 8
CONNECTIONS_PER_ADDRESS = 64   # open connections per client address (guard.py)
TOKEN_RE = re.compile(r"[A-Za-z0-9._~+/=-]{6,200}")
NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")


def add_args(ap: argparse.ArgumentParser, count=int) -> None:
    """The classroom flags; `count` is the type for whole numbers 0 or more."""
    g = ap.add_argument_group("classroom mode (docs/INSTRUCTORS.md)")
    g.add_argument("--class-token", help="share this with the room; students use TOKEN:name as their "
                   "API key. Prefer env LLM_CLASS_TOKEN: a flag shows in `ps`. Required for a "
                   "non-loopback --host")
    g.add_argument("--dashboard-token", help="the instructor's token for /dashboard. Prefer env "
                   "LLM_DASHBOARD_TOKEN; else a random one is printed at start")
    g.add_argument("--max-inflight-per-student", type=count,
                   help=f"429 beyond this many requests in flight per student "
                        f"(classroom default {DEFAULT_MAX_INFLIGHT}; 0: no cap)")
    g.add_argument("--names-per-address", type=count, default=NAMES_PER_ADDRESS,
                   help=f"names one client address may hold at once (default {NAMES_PER_ADDRESS}; 0: "
                        "no cap, e.g. for a JupyterHub on another machine)")
    g.add_argument("--max-names", type=count, default=MAX_NAMES, help=f"names at most (default {MAX_NAMES})")
    g.add_argument("--roster", help="a file with one student name a line: only these names are let in")
    g.add_argument("--max-connections-per-address", type=count, default=CONNECTIONS_PER_ADDRESS,
                   help=f"open connections per client address (default {CONNECTIONS_PER_ADDRESS}; 0: no cap)")


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
    if a.max_names < 1:
        return "--max-names must be 1 or more"
    a.roster_names = None
    if a.roster:
        try:
            lines = open(a.roster, encoding="utf-8").read().split()
        except (OSError, UnicodeDecodeError) as e:
            return f"--roster: cannot read {a.roster}: {e.strerror if isinstance(e, OSError) else e}"
        names = {x.strip().lower() for x in lines if x.strip()}
        bad = sorted(n for n in names if not NAME_RE.fullmatch(n) or reserved(n))
        if bad or not names:
            return (f"--roster: {len(bad)} names are not valid (1-32 of a-z 0-9 . _ -, not reserved), "
                    f"e.g. {bad[0]!r}" if bad else f"--roster: {a.roster} lists no names")
        a.roster_names = names
    return None


def lan_address() -> str | None:
    """This machine's address on the local network (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.254.254.254", 1))
            return s.getsockname()[0]
    except OSError:
        return None


def announce(room, host: str, port: int) -> None:
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


