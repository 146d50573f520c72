"""The files repo2docker reads (Binder, JupyterHub images) stay correct for the package install."""
import os
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _commands(path: Path) -> list[list[str]]:
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    return [shlex.split(ln) for ln in lines if ln and not ln.startswith(("#", "set "))]


def test_runtime_txt_names_a_python_the_package_accepts():
    runtime = (ROOT / "runtime.txt").read_text(encoding="utf-8").strip()
    m = re.fullmatch(r"python-3\.(\d+)", runtime)
    need = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["requires-python"]
    assert m and need == ">=3.11" and int(m.group(1)) >= 11, (runtime, need)


def test_postbuild_is_executable_bash_and_installs_the_course_as_a_plain_package():
    post = ROOT / "postBuild"
    assert os.access(post, os.X_OK), "repo2docker runs postBuild as a program"
    assert subprocess.run(["bash", "-n", str(post)], capture_output=True).returncode == 0
    installs = [c for c in _commands(post) if c[:4] == ["python", "-m", "pip", "install"]]
    course = [c for c in installs if c[-1] == "."]
    # Not editable: a hub mounts each user's disk over the home folder holding the repository.
    assert len(course) == 1 and "-e" not in course[0] and "--editable" not in course[0], installs
    assert "--no-deps" in course[0]      # requirements.txt already installed the pinned dependencies
    local = [c for c in installs if "requirements-local.txt" in c]
    assert local and "--no-deps" in local[0], installs


def test_requirements_txt_holds_only_exact_pins():
    pins = [ln.strip() for ln in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.]+", p) for p in pins), pins
