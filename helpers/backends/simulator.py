"""Start the course's simulated LLM server from a notebook (lesson 00).

`start_simulator()` runs `python -m helpers.llm_server` in its own process, so
the notebook's own work does not disturb the timings the server produces. It is
idempotent: calling it again with the same settings returns the running
server. The server stops when the kernel (this Python process) ends, and if it
was stopped or killed, the next call starts it again on the same port.
"""
from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import httpx

from ..errors import BackendError
from ..llm_server import latency

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SimServer:
    """A running simulator: where it listens and how it is set up."""

    base_url: str
    profile: str
    time_scale: float
    seed: int
    pid: int

    def stats(self) -> dict:
        """The server's counters: in flight now and at peak, queue, tokens, 429s (lesson 03)."""
        return httpx.get(self.base_url + "/sim/stats", timeout=5).json()

    def reset_stats(self) -> dict:
        """Zero the counters and peaks, e.g. before a measurement (lesson 03)."""
        return httpx.post(self.base_url + "/sim/stats/reset", json={}, timeout=5).json()

    def config(self) -> dict:
        """The latency profile the server runs (for predictions, lessons 02-04)."""
        return httpx.get(self.base_url + "/sim/config", timeout=5).json()

    def latency_profile(self) -> latency.Profile:
        """The server's latency profile with its overrides (slots, limits) and time
        scale applied: pass it to `predict_batch` (lessons 02-04)."""
        return latency.Profile(**self.config()["profile"])


_running: dict[tuple, tuple[subprocess.Popen, SimServer]] = {}
_lock = threading.Lock()


def _settings(profile, time_scale, seed) -> tuple[str, float, int]:
    profile = profile or os.environ.get("LLM_SIM_PROFILE") or latency.DEFAULT_PROFILE
    if profile not in latency.PROFILES:
        raise ValueError(f"unknown simulator profile {profile!r}: use one of {', '.join(latency.PROFILES)}")
    try:
        time_scale = float(time_scale if time_scale is not None else os.environ.get("LLM_SIM_TIME_SCALE", 1.0))
        seed = int(seed if seed is not None else os.environ.get("LLM_SIM_SEED", 0))
    except ValueError:
        raise ValueError("time_scale must be a positive number (e.g. 1 or 0.1) and seed a whole number") from None
    if not 0 < time_scale < float("inf"):
        raise ValueError(f"time_scale must be a positive number (e.g. 1 or 0.1), got {time_scale}")
    return profile, time_scale, seed


def _alive(proc: subprocess.Popen, url: str) -> bool:
    if proc.poll() is not None:
        return False
    try:
        return httpx.get(url + "/models", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start_simulator(profile: str | None = None, time_scale: float | None = None,
                    seed: int | None = None, **extra: int) -> SimServer:
    """Start (or reuse) the simulator and return where it listens.

    Defaults come from LLM_SIM_PROFILE, LLM_SIM_TIME_SCALE and LLM_SIM_SEED.
    `extra` passes CLI options such as slots=4, rpm=60, queue_limit=8.
    """
    profile, time_scale, seed = _settings(profile, time_scale, seed)
    key = (profile, time_scale, seed, tuple(sorted(extra.items())))
    with _lock:
        port = 0
        if key in _running:
            proc, srv = _running[key]
            if _alive(proc, srv.base_url):
                return srv
            port = int(srv.base_url.rsplit(":", 1)[1].split("/")[0])
            print(f"The simulator had stopped; starting it again on port {port}.")
            proc.kill()
        srv_proc, srv = _spawn(profile, time_scale, seed, port, extra)
        _running[key] = (srv_proc, srv)
        return srv


def _spawn(profile, time_scale, seed, port, extra) -> tuple[subprocess.Popen, SimServer]:
    cmd = [sys.executable, "-m", "helpers.llm_server", "--port", str(port), "--profile", profile,
           "--time-scale", str(time_scale), "--seed", str(seed), "--parent-pid", str(os.getpid())]
    for k, v in extra.items():
        cmd += [f"--{k.replace('_', '-')}", str(v)]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    line = _read_line(proc, timeout_s=20)
    if not line.startswith("http"):
        try:  # stdout closed: let it exit, so that its error message is there to read
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        err = (proc.stderr.read() if proc.poll() is not None else "").strip().splitlines()
        proc.kill()
        raise BackendError(f"The simulator did not start ({err[-1] if err else 'no output'}): check the "
                           "options (e.g. slots=4, rpm=60, queue_limit=8) or run "
                           "`python -m helpers.llm_server` in a terminal to see why.")
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained
    atexit.register(_stop, proc)
    return proc, SimServer(line, profile, time_scale, seed, proc.pid)


def _read_line(proc: subprocess.Popen, timeout_s: float) -> str:
    out: list[str] = []
    t = threading.Thread(target=lambda: out.append(proc.stdout.readline().strip()), daemon=True)
    t.start()
    t.join(timeout_s)
    return out[0] if out else ""


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()


def stop_simulators() -> None:
    """Stop every simulator this kernel started."""
    with _lock:
        for proc, _ in _running.values():
            _stop(proc)
        _running.clear()
