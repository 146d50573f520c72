"""course.py: the one command a learner types (lab as root, arguments passed through)."""
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("course", ROOT / "course.py")
course = importlib.util.module_from_spec(spec)
spec.loader.exec_module(course)


def test_lab_binds_loopback_and_adds_allow_root_only_for_root():
    as_root = course.lab_command(Path("py"), ["--no-browser"], is_root=True)
    assert "--allow-root" in as_root and "--ServerApp.ip=127.0.0.1" in as_root
    assert as_root[-2:] == ["--no-browser", "notebooks/00_start_here.ipynb"]
    as_user = course.lab_command(Path("py"), [], is_root=False)
    assert "--allow-root" not in as_user


def test_lab_keeps_an_explicit_ip_and_does_not_repeat_allow_root():
    cmd = course.lab_command(Path("py"), ["--ip=0.0.0.0", "--allow-root"], is_root=True)
    assert "--ServerApp.ip=127.0.0.1" not in cmd and cmd.count("--allow-root") == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_course_lab_starts_jupyterlab_as_the_current_user(tmp_path):
    """As root in CI this is the container case: without --allow-root JupyterLab would refuse."""
    port = _free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path), "JUPYTER_CONFIG_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, str(ROOT / "course.py"), "lab", "--no-browser",
                             f"--port={port}", "--ServerApp.port_retries=0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)  # its own process group: JupyterLab stops with it
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        assert proc.poll() is None, proc.stdout.read()[-2000:]
        assert httpx.get(f"http://127.0.0.1:{port}/api", timeout=5).json()["version"]
    finally:
        # course.py waits on JupyterLab, its child: stop the whole group, or JupyterLab outlives the test
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
