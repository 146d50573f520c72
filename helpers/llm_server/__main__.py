"""Run the simulator: `python -m helpers.llm_server [--port N] [--profile NAME] ...`.

Prints its base URL (http://HOST:PORT/v1) on one line, then serves until stopped.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys

import psutil
import uvicorn

from . import classroom, latency
from .app import create_app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m helpers.llm_server", description=__doc__)
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    ap.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    ap.add_argument("--profile", default=latency.DEFAULT_PROFILE, choices=list(latency.PROFILES))
    ap.add_argument("--time-scale", type=float, default=1.0, help="multiply every delay (tests: 0.1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--slots", type=int, help="override the profile's server slots")
    ap.add_argument("--queue-limit", type=int, help="override the profile's queue limit")
    ap.add_argument("--rpm", type=int, help="requests/min per API key (0: no limit)")
    ap.add_argument("--tpm", type=int, help="tokens/min per API key (0: no limit)")
    ap.add_argument("--parent-pid", type=int, help="stop when this process ends (notebook use)")
    ap.add_argument("--log-level", default="warning")
    classroom.add_args(ap)
    return ap.parse_args(argv)


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


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.time_scale <= 0:
        print("--time-scale must be a positive number, e.g. 1 or 0.1", file=sys.stderr)
        return 2
    problem = classroom.check_args(a)  # also sets the classroom's per-student defaults
    if problem:
        print(problem, file=sys.stderr)
        return 2
    app = create_app(a.profile, a.time_scale, a.seed, **overrides(a))
    room = classroom.enable(app, a)  # None unless there is a class token
    # Let uvicorn bind the port itself: with a socket handed in, its connections
    # lacked TCP_NODELAY here, and every keep-alive request waited ~40 ms for a
    # delayed ACK (measured: 44 ms vs 0.7 ms per request).
    server = uvicorn.Server(uvicorn.Config(app, host=a.host, port=a.port, log_level=a.log_level,
                                           backlog=4096, timeout_keep_alive=30, access_log=False))

    announce = (lambda host, port: classroom.announce(room, host, port)) if room else None
    serve_until_stopped(server, "/v1", a.parent_pid, announce)
    return 0


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
