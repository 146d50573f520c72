"""Run the simulator: `python -m helpers.llm_server [--port N] [--profile NAME] ...`.

Prints its base URL (http://HOST:PORT/v1) on one line, then serves until stopped.
"""
from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys

import psutil
import uvicorn

from . import classroom, classroom_cli, guard, latency
from .app import create_app

SHUTDOWN_S = 3   # on stop, requests still running get this long, then are cancelled


class OneLineParser(argparse.ArgumentParser):
    """Bad values give one line on stderr and exit status 2 (no usage block, no traceback)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message}\n")


def number(kind, low: float, what: str):
    """An argparse type: a finite number of `kind` that is at least `low`."""
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {what}") from None
        if not math.isfinite(v) or v < low:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {what}")
        return v
    parse.__name__ = what
    return parse


POSITIVE = number(float, 0, "positive number, e.g. 1 or 0.1")
COUNT = number(int, 0, "whole number, 0 or more")
AT_LEAST_1 = number(int, 1, "whole number, 1 or more")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = OneLineParser(prog="python -m helpers.llm_server", description=__doc__)
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    ap.add_argument("--port", type=number(int, 0, "port number (0-65535)"), default=0,
                    help="port (default: any free port)")
    ap.add_argument("--profile", default=latency.DEFAULT_PROFILE, choices=list(latency.PROFILES))
    ap.add_argument("--time-scale", type=POSITIVE, default=1.0, help="multiply every delay (tests: 0.1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--slots", type=AT_LEAST_1, help="override the profile's server slots")
    ap.add_argument("--queue-limit", type=COUNT, help="override the profile's queue limit")
    ap.add_argument("--rpm", type=COUNT, help="requests/min per API key (0: no limit)")
    ap.add_argument("--tpm", type=COUNT, help="tokens/min per API key (0: no limit)")
    ap.add_argument("--parent-pid", type=AT_LEAST_1, help="stop when this process ends (notebook use)")
    ap.add_argument("--max-connections", type=AT_LEAST_1,
                    help="open connections at most (default: 4096, or less if the file limit is lower)")
    ap.add_argument("--head-timeout", type=POSITIVE, default=guard.HEAD_TIMEOUT_S,
                    help="seconds a connection has to send its request line and headers")
    ap.add_argument("--body-timeout", type=POSITIVE, default=guard.BODY_TIMEOUT_S,
                    help="seconds a request has to send its whole body")
    ap.add_argument("--log-level", default="warning")
    classroom_cli.add_args(ap, COUNT)
    a = ap.parse_args(argv)
    if a.time_scale <= 0:
        ap.error("argument --time-scale: must be a positive number, e.g. 1 or 0.1")
    if a.head_timeout <= 0 or a.body_timeout <= 0:
        ap.error("argument --head-timeout/--body-timeout: must be a positive number of seconds")
    if a.port > 65535:
        ap.error("argument --port: must be 0-65535")
    return a


def overrides(a: argparse.Namespace) -> dict:
    o = {}
    if a.slots is not None:
        o["slots"] = a.slots
    if a.queue_limit is not None:
        o["queue_limit"] = a.queue_limit
    if a.rpm is not None:
        o["rpm_limit"] = a.rpm or None
    if a.tpm is not None:
        o["tpm_limit"] = a.tpm or None
    return o


async def watch_parent(pid: int, server: uvicorn.Server) -> None:
    """End the server when the notebook kernel that started it is gone."""
    while not server.should_exit:
        await asyncio.sleep(1.0)
        if os.getppid() != pid or not psutil.pid_exists(pid):
            server.should_exit = True


def warn_tokens_on_argv(argv: list[str]) -> None:
    """A token on the command line shows in `ps` to every user of the machine."""
    flags = [f for f in ("--class-token", "--dashboard-token")
             if any(x == f or x.startswith(f + "=") for x in argv)]
    if flags:
        print(f"Warning: {' and '.join(flags)} on the command line can be read by anyone on this machine "
              "(ps); prefer LLM_CLASS_TOKEN / LLM_DASHBOARD_TOKEN in the environment.",
              file=sys.stderr, flush=True)


def guard_connections(a: argparse.Namespace, room) -> tuple[int, int]:
    """Raise the file limit, then cap connections below it (see guard.py); returns
    (cap, backlog). asyncio accepts up to `backlog` connections in one go before the
    protocol sees any of them, so the cap leaves room for one such burst plus 64 files
    for the Python process itself."""
    soft, _ = guard.raise_file_limit()
    backlog = min(2048, max(16, (soft - 64) // 4))
    cap = min(a.max_connections or 4096, max(16, soft - 64 - backlog))
    per_address = getattr(a, "max_connections_per_address", None) if room else None
    guard.LIMITS = guard.Limits(cap, per_address or None)
    guard.HEAD_TIMEOUT_S, guard.BODY_TIMEOUT_S = a.head_timeout, a.body_timeout
    return cap, backlog


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    a = parse_args(argv)
    problem = classroom_cli.check_args(a)  # also sets the classroom's per-student defaults
    if problem:
        print(problem, file=sys.stderr)
        return 2
    warn_tokens_on_argv(argv)
    app = create_app(a.profile, a.time_scale, a.seed, **overrides(a))
    room = classroom.enable(app, a)  # None unless there is a class token
    cap, backlog = guard_connections(a, room)
    once = guard.install_once_filter()
    # Let uvicorn bind the port itself: with a socket handed in, its connections
    # lacked TCP_NODELAY here, and every keep-alive request waited ~40 ms for a
    # delayed ACK (measured: 44 ms vs 0.7 ms per request).
    server = uvicorn.Server(uvicorn.Config(
        app, host=a.host, port=a.port, log_level=a.log_level, access_log=False,
        http=guard.GuardedH11Protocol,   # head/body deadlines, connection caps (guard.py)
        backlog=backlog, limit_concurrency=cap, timeout_keep_alive=30,
        h11_max_incomplete_event_size=16 * 1024,  # a request head is at most 16 KB
        timeout_graceful_shutdown=SHUTDOWN_S))

    def started(host: str, port: int) -> None:
        asyncio.ensure_future(flush_repeats(once, server))
        if room:
            classroom_cli.announce(room, host, port)
    serve_until_stopped(server, "/v1", a.parent_pid, started)
    return 0


async def flush_repeats(once: guard.OnceFilter, server: uvicorn.Server) -> None:
    while not server.should_exit:
        await asyncio.sleep(2.0)
        once.flush()


def serve_until_stopped(server: uvicorn.Server, path: str, parent_pid: int | None = None,
                        on_started=None) -> None:
    """Run `server` until Ctrl+C (or until `parent_pid` is gone); once it listens, print its
    URL (with `path`) on one line and call on_started(host, port). Also used by lesson 06's app."""

    async def serve() -> None:
        task = asyncio.ensure_future(server.serve())
        while not server.started:
            if task.done():  # could not bind (or the app could not start): uvicorn has said why
                return
            await asyncio.sleep(0.01)
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        print(f"http://{'[' + host + ']' if ':' in host else host}:{port}{path}", flush=True)
        if on_started:
            on_started(host, port)
        if parent_pid:
            asyncio.ensure_future(watch_parent(parent_pid, server))
        await task

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
