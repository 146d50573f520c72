"""The pre-commit hook strips a notebook's outputs on `git commit`, offline, keeping cell ids.

A scratch git repository gets this repository's .pre-commit-config.yaml and one lesson
with outputs added; the first commit is stopped with the notebook stripped on disk, and
the second commit stores it the way tests/integration/test_secrets.py requires.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LESSON = "notebooks/01_invoke.ipynb"


def git(repo: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.skipif(not (BIN / "pre-commit").exists() or not shutil.which("git"), reason="pre-commit or git missing")
def test_the_hook_strips_outputs_and_keeps_cell_ids(tmp_path):
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / ".pre-commit-config.yaml", repo)
    shutil.copy(ROOT / LESSON, repo / LESSON)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "PRE_COMMIT_HOME": str(tmp_path / "cache"), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    assert git(repo, "init", "-q", env=env).returncode == 0
    done = subprocess.run([str(BIN / "pre-commit"), "install"], cwd=repo, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr

    nb = json.loads((repo / LESSON).read_text(encoding="utf-8"))
    ids = [c["id"] for c in nb["cells"]]
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
    cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["backend: sim\n"]}]
    cell["execution_count"] = 3
    (repo / LESSON).write_text(json.dumps(nb, indent=1), encoding="utf-8")

    git(repo, "add", ".", env=env)
    first = git(repo, "commit", "-m", "lesson run", env=env)
    assert first.returncode != 0 and "files were modified by this hook" in first.stdout + first.stderr, first.stderr
    git(repo, "add", ".", env=env)
    second = git(repo, "commit", "-m", "lesson run", env=env)
    assert second.returncode == 0, second.stdout + second.stderr

    stored = json.loads(git(repo, "show", f"HEAD:{LESSON}", env=env).stdout)
    code = [c for c in stored["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert [c["id"] for c in stored["cells"]] == ids
