"""Secrets: an API key in the environment never reaches a notebook output, a saved
file, the simulator's logs or the repository; where it is shown, it is masked.

Every test and every notebook (under nbval) runs with a dummy key in OPENAI_API_KEY and
LLM_API_KEY while LLM_BACKEND stays `sim`; tests/conftest.py fails any notebook cell whose
outputs show it, and the run if a file written during it holds it.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest

ROOT = Path(__file__).resolve().parents[2]
from conftest import CORE, DUMMY, leaks  # the dummy key every test and notebook runs with

SKIP_DIRS = {".git", ".venv", "__pycache__", ".ipynb_checkpoints", ".hypothesis", ".pytest_cache"}
KEY_RE = re.compile(r"sk-[A-Za-z0-9_-]{20,}")
FAKE_OK = ("sk-test-",)  # obviously fake keys in tests are allowed in the repo


def repo_files() -> dict[Path, float]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        for f in filenames:
            p = Path(dirpath, f)
            try:
                out[p] = p.stat().st_mtime
            except OSError:
                pass
    return out


def test_leak_detector_sees_the_key():
    assert leaks(f"x {DUMMY} y") and leaks(CORE) and not leaks("sk-…UMMY and sk-other")


def test_notebooks_run_with_the_dummy_key_in_their_environment():
    """nbval runs every notebook in this environment (--nbval-current-env), and conftest fails any
    cell whose outputs show the key, and the run if a file written during it holds the key."""
    assert os.environ["OPENAI_API_KEY"] == DUMMY == os.environ["LLM_API_KEY"]


def test_masking_and_redaction(monkeypatch):
    from helpers import backends, mask
    from helpers.explain import explain

    assert mask(DUMMY) == "sk-…UMMY" and mask("") == "(none)" and mask("short") == "…" * 3
    monkeypatch.setenv("OPENAI_API_KEY", DUMMY)
    b = backends.resolve_backend("openai")
    for shown in (repr(b), str(b), f"{b}", repr([b])):
        assert DUMMY not in shown and "sk-…UMMY" in shown
    # an error message that quotes the key is redacted before a learner sees it
    assert CORE not in explain(RuntimeError(f"bad key {DUMMY}"))
    assert "sk-…UMMY" in explain(RuntimeError(f"bad key {DUMMY}"))
    # a server that rejects the key: the one-line message masks it
    monkeypatch.setattr(backends.httpx, "get", lambda *a, **k: httpx.Response(401, json={}))
    with pytest.raises(backends.BackendError) as e:
        backends.check_reachable(b)
    assert CORE not in str(e.value) and "sk-…UMMY" in str(e.value)


def test_simulator_never_logs_or_reports_the_key(tmp_path):
    err = open(tmp_path / "stderr.txt", "w")
    proc = subprocess.Popen([sys.executable, "-m", "helpers.llm_server", "--time-scale", "0.02",
                             "--log-level", "trace"], cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http"), url
        h = {"Authorization": f"Bearer {DUMMY}"}
        c = openai.OpenAI(base_url=url, api_key=DUMMY, max_retries=0, timeout=5)
        msgs = [{"role": "user", "content": "Explain streaming"}]
        c.chat.completions.create(model="sim", messages=msgs)
        list(c.chat.completions.create(model="sim", messages=msgs, stream=True))
        c.embeddings.create(model="sim", input="refunds")
        for fault, exc in (("429", openai.RateLimitError), ("500", openai.InternalServerError),
                           ("stall", openai.APITimeoutError)):
            with pytest.raises(exc):
                c.with_options(timeout=0.5).chat.completions.create(
                    model="sim", messages=msgs, extra_headers={"X-Sim-Fault": fault})
        with pytest.raises(openai.APIConnectionError):
            list(c.chat.completions.create(model="sim", messages=msgs, stream=True,
                                           extra_headers={"X-Sim-Fault": "drop"}))
        for body in (b"{", b'{"model": "nope", "messages": []}', b"x" * 1_100_000):
            assert httpx.post(url + "/chat/completions", content=body, headers=h).status_code in (400, 404, 413)
        stats = httpx.get(url + "/sim/stats")
        assert not leaks(stats.text + httpx.get(url + "/sim/config").text)
        assert any(k.startswith("key-") for k in stats.json()["by_key"])  # a sha256 prefix, not the key
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
        err.close()
    logs = (tmp_path / "stderr.txt").read_text() + out
    assert not leaks(logs), logs[-500:]


def test_dotenv_is_git_ignored():
    r = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert r.returncode == 0, ".env must be listed in .gitignore"


def _git_files(*args: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z", *args], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / p for p in out.decode().split("\0") if p]


def test_committed_notebooks_have_no_outputs_or_keys():
    nbs = _git_files("*.ipynb")
    assert nbs
    for p in nbs:
        if not p.exists():  # deleted in the working tree
            continue
        nb = json.loads(p.read_text())
        for i, c in enumerate(nb["cells"]):
            if c["cell_type"] == "code":
                assert c.get("outputs") == [] and c.get("execution_count") is None, f"{p.name} cell {i} has outputs"
        assert not KEY_RE.findall(p.read_text()), p.name


def test_no_key_like_strings_in_the_repository():
    files = _git_files("--cached", "--others", "--exclude-standard")  # tracked + new, not ignored
    found = []
    for p in files:
        try:
            text = p.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):  # binary or deleted
            continue
        found += [(p.relative_to(ROOT), m) for m in KEY_RE.findall(text) if not m.startswith(FAKE_OK)]
    assert not found, found
