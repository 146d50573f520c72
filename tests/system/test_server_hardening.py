"""Issue 16, hardening of the server process: bad command lines, tokens on argv, the
file limit, held connections and an orphaned server. Each test failed before the fix."""
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
SERVER = [sys.executable, "-m", "helpers.llm_server", "--port", "0", "--time-scale", "0.05"]


def clean_env(**extra) -> dict:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("LLM_")}, **extra}


class Proc:
    def __init__(self, args: list[str], env: dict | None = None, preexec_fn=None):
        self.proc = subprocess.Popen(SERVER + args, cwd=ROOT, env=env or clean_env(), text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=preexec_fn)
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), self.url
        self.host, self.port = "127.0.0.1", int(self.url.rsplit(":", 1)[1].split("/")[0])
        self.err: list[str] = []
        threading.Thread(target=lambda: self.err.extend(self.proc.stderr), daemon=True).start()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)


@pytest.mark.parametrize("args", [["--time-scale", "nan"], ["--time-scale", "inf"], ["--time-scale", "0"],
                                  ["--slots", "0"], ["--rpm", "-5"], ["--tpm", "x"], ["--port", "70000"],
                                  ["--queue-limit", "-1"], ["--max-inflight-per-student", "-2"],
                                  ["--head-timeout", "0"]])
def test_bad_command_line_values_give_one_line_and_exit_2(args):
    """Before: --time-scale nan, --slots 0 and --rpm -5 ended in a traceback (or started)."""
    p = subprocess.run(SERVER[:3] + args, cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr and args[0] in lines[0], p.stderr


def test_tokens_on_argv_warn_once_and_env_tokens_do_not():
    """Before: nothing said that a token on the command line shows in `ps`."""
    s = Proc(["--class-token", "argv-token-1", "--dashboard-token", "argv-dash-1"])
    try:
        wait_for("the classroom banner", lambda: any("Dashboard" in line for line in s.err))
        warnings = [line for line in s.err if "command line" in line]
        assert len(warnings) == 1 and "LLM_CLASS_TOKEN" in warnings[0] and "argv-token-1" not in warnings[0]
    finally:
        s.stop()
    s = Proc([], env=clean_env(LLM_CLASS_TOKEN="env-token-1", LLM_DASHBOARD_TOKEN="env-dash-1"))
    try:
        wait_for("the classroom banner", lambda: any("Dashboard" in line for line in s.err))
        assert not [line for line in s.err if "command line" in line]
    finally:
        s.stop()


def limit_files(soft: int, hard: int):
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def open_files_limit(pid: int) -> int:
    line = next(x for x in Path(f"/proc/{pid}/limits").read_text().splitlines() if x.startswith("Max open files"))
    return int(line.split()[3])


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="reads /proc/PID/limits (Linux)")
def test_the_file_limit_is_raised_toward_the_hard_limit():
    """Before: a 256-file soft limit (macOS's default) stayed 256."""
    s = Proc([], preexec_fn=limit_files(256, 4096))
    try:
        assert open_files_limit(s.proc.pid) == 4096
    finally:
        s.stop()


def test_held_connections_cannot_take_the_server_down():
    """Before: no deadline before a connection's first response. Idle, slow-header and
    slow-body connections stayed open for good; with a 256-file limit /health stopped
    answering and stderr filled with tracebacks. Now: a capped number of connections,
    the rest closed at once (logged once, with a count), and a connection that has not
    sent its request head in 2 s (its body in 3 s) is closed."""
    s = Proc(["--head-timeout", "2", "--body-timeout", "3"], preexec_fn=limit_files(256, 256))
    held: list[socket.socket] = []
    try:
        slow_head = socket.create_connection((s.host, s.port), timeout=30)
        slow_body = socket.create_connection((s.host, s.port), timeout=30)
        slow_head.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")       # never ends its head
        slow_body.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 1000\r\n\r\n{\"model\":")     # never ends its body
        for _ in range(400):        # idle connections, more than the server may hold
            held.append(socket.create_connection((s.host, s.port), timeout=30))
        # the deadlines close both: an orderly close (b""), not a reset (which is a refusal)
        assert slow_head.recv(4096) == b"" and slow_body.recv(4096) == b""
        # /health answers again once the idle ones are closed, and the server is alive
        wait_for("/health", lambda: _health(s.url), timeout_s=60)
        assert s.proc.poll() is None
        wait_for("the repeat count", lambda: any("repeated" in line for line in s.err), timeout_s=60)
        refused = [line for line in s.err if "Refused a connection" in line and "repeated" not in line]
        assert len(refused) <= 2 and sum("Traceback" in line for line in s.err) <= 1, s.err[:20]
        assert len(s.err) < 40
    finally:
        for sock in held:
            sock.close()
        s.stop()


def _health(url: str) -> bool:
    try:
        return httpx.get(url[:-3] + "/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_an_orphaned_server_with_a_stalled_request_exits_within_its_bound():
    """Before: graceful shutdown had no time limit, so a client holding a stalled request
    kept an orphaned server (its notebook gone) serving for good."""
    launcher = ("import os, subprocess, sys, time\n"
                f"p = subprocess.Popen({SERVER!r} + ['--parent-pid', str(os.getpid())], stdout=sys.stdout)\n"
                "print(p.pid, flush=True)\n"
                "time.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", launcher], cwd=ROOT, env=clean_env(),
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        server = psutil.Process(int(parent.stdout.readline()))   # the launcher prints it first
        url = parent.stdout.readline().strip()
        held = threading.Thread(target=lambda: _post_held(url), daemon=True)
        held.start()
        wait_for("the held request", lambda: httpx.get(url + "/sim/stats", timeout=5).json()["held"].get("x"))
        stalled = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1].split("/")[0])))
        stalled.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{")
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        # bound: 1 s to notice, 3 s of graceful shutdown, then exit (generous margin here)
        wait_for("the orphaned server to exit", lambda: not _alive(server), timeout_s=30)
        stalled.close()
    finally:
        if parent.poll() is None:
            parent.kill()


def _post_held(url: str) -> None:
    try:
        httpx.post(url + "/chat/completions", timeout=120, headers={"X-Sim-Fault": "hold:x"},
                   json={"model": "sim", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
    except httpx.HTTPError:
        pass


def _alive(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
