"""The course as an installed package: a wheel in a fresh venv runs lessons from an empty folder.

This is what Colab, a JupyterHub image or `pip install .` give a learner: no checkout,
no `.env`, no repo layout on disk. Slow (it builds a venv), so it is marked `slow`.
"""
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

DATA_THE_LESSONS_READ = ["helpers/data/prices.json", "helpers/quiz/banks/00_start_here.yaml",
                         "helpers/quiz/banks/05_rag_and_cost.yaml", "helpers/data/support_docs/returns.md",
                         "helpers/llm_server/dashboard.html"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Build from a clean copy: setuptools leaves build/ behind, and a stale build/ could
    # smuggle deleted modules into the wheel.
    src = out / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "artifacts", "*.egg-info", "__pycache__", ".hypothesis"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
                   check=True, timeout=600)
    (found,) = out.glob("invoke_stream_batch-*.whl")
    return found


def test_the_wheel_carries_every_data_file_the_lessons_read(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [f for f in DATA_THE_LESSONS_READ if f not in names]
    assert not missing, f"not in the wheel: {missing}"
    docs = [n for n in names if n.startswith("helpers/data/support_docs/")]
    assert len(docs) == len(list((ROOT / "helpers/data/support_docs").glob("*.md")))
    quizzes = [n for n in names if n.startswith("helpers/quiz/banks/")]
    assert len(quizzes) == len(list((ROOT / "helpers/quiz/banks").glob("*.yaml")))
    assert not [n for n in names if n.startswith(("tests/", "notebooks/", "benchmarks/"))]


def test_the_wheel_declares_the_pinned_requirements(wheel):
    meta = next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    declared = {ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("Requires-Dist:")}
    pins = {ln.strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()
            if ln.strip() and not ln.startswith("#")}
    assert pins <= declared


def test_lessons_run_from_an_empty_folder_with_the_wheel_installed(wheel, tmp_path):
    """A fresh venv holds only the installed wheel; its dependencies come from this venv's
    site-packages on PYTHONPATH (no second download of JupyterLab, and no editable link)."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
                    "--disable-pip-version-check", str(wheel)], check=True, timeout=600)
    work = tmp_path / "empty"
    work.mkdir()
    for name in ("00_start_here.ipynb", "01_invoke.ipynb"):
        shutil.copy(ROOT / "notebooks" / name, work / name)
    deps = sysconfig.get_paths()["purelib"]            # this venv's packages, without its .pth files
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV",)}
    env.update({"PYTHONPATH": deps, "LLM_BACKEND": "sim", "LLM_SIM_TIME_SCALE": "0.1",
                "MPLBACKEND": "Agg", "COURSE_PROGRESS": "off"})
    where = subprocess.run([str(py), "-c", "import helpers; print(helpers.__file__)"], cwd=work,
                           env=env, capture_output=True, text=True, check=True).stdout
    assert str(ROOT) not in where and str(env_dir) in where
    done = subprocess.run([str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                           "-o", "addopts=", "00_start_here.ipynb", "01_invoke.ipynb"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
