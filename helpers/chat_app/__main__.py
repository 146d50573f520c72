"""Run the support chatbot: `python -m helpers.chat_app [--port N] [--deadline S]` (lesson 06).

It answers with the course's backend switch (LLM_BACKEND, LLM_BASE_URL, LLM_MODEL, ...),
prints its URL on one line, then serves until stopped (Ctrl+C).
"""
from __future__ import annotations

import argparse
import sys

import uvicorn

from ..llm_server.__main__ import serve_until_stopped
from .app import create_app


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m helpers.chat_app", description=__doc__)
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    ap.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    ap.add_argument("--deadline", type=float, default=60.0, help="most seconds one answer may take")
    ap.add_argument("--max-tokens", type=int, default=200, help="longest answer, in tokens")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the model's next bytes")
    ap.add_argument("--allow-faults", action="store_true", help="pass a request's 'fault' on as X-Sim-Fault")
    ap.add_argument("--per-user-cap", type=int, default=0, help="answers one user may have in flight (0: no cap)")
    ap.add_argument("--k", type=int, default=4, help="chunks retrieved into each prompt")
    ap.add_argument("--parent-pid", type=int, help="stop when this process ends (notebook use)")
    a = ap.parse_args(argv)
    if not (a.deadline > 0 and a.timeout > 0 and a.max_tokens > 0 and a.per_user_cap >= 0 and a.k >= 1):
        print("--deadline, --timeout, --max-tokens and --k must be positive numbers (--per-user-cap >= 0)",
              file=sys.stderr)
        return 2
    app = create_app(deadline_s=a.deadline, allow_faults=a.allow_faults, max_tokens=a.max_tokens,
                     timeout_s=a.timeout, per_user_cap=a.per_user_cap, k=a.k)
    server = uvicorn.Server(uvicorn.Config(app, host=a.host, port=a.port, log_level="warning",
                                           backlog=4096, timeout_keep_alive=30, access_log=False))

    serve_until_stopped(server, "/", a.parent_pid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
