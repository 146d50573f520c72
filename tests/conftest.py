"""Shared fixtures: a simulator on loopback, shrunk in time; a dummy key in every test's
environment, and a check that no notebook output and no file written during the run shows it."""
import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("COURSE_PROGRESS", "off")
# Plain `pytest` (not via course.py) must never run the notebooks on a paid API or at real speed.
os.environ.setdefault("LLM_BACKEND", "sim")
os.environ.setdefault("LLM_SIM_TIME_SCALE", "0.1")
os.environ.setdefault("MPLBACKEND", "Agg")

# Every test, and every notebook nbval runs, sees this dummy key; none may show it.
DUMMY = "sk-" + "test-DUMMY0123456789abcdefDUMMY"  # split so this file itself holds no key-like string
CORE = DUMMY[8:-5]  # "DUMMY0123456789abcdef": any unmasked piece of it is a leak
KEY_RE = re.compile(r"sk-[A-Za-z0-9_-]{20,}")
os.environ["OPENAI_API_KEY"] = os.environ["LLM_API_KEY"] = DUMMY
_STARTED = time.time()
_SKIP_DIRS = {".git", ".venv", "__pycache__", ".ipynb_checkpoints", ".hypothesis", ".pytest_cache"}


def leaks(text: str) -> list[str]:
    """The dummy key, or any unmasked piece of it, in `text`."""
    found = [m for m in (DUMMY, CORE) if m in text]
    return found + [m for m in KEY_RE.findall(text) if m not in found and DUMMY.startswith(m[:8])]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A notebook cell (nbval) whose outputs show the key fails, naming the leak."""
    outcome = yield
    report = outcome.get_result()
    outputs = getattr(item, "test_outputs", None)
    if call.when == "call" and outputs and report.passed:
        found = leaks(json.dumps(outputs, default=str))
        if found:
            report.outcome = "failed"
            report.longrepr = f"{item.nodeid}: an output shows the API key ({found[0][:12]}…)"


def pytest_sessionfinish(session, exitstatus):
    """No file written during the run (figures, progress, caches, logs) may hold the key."""
    bad = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
        for f in filenames:
            p = Path(dirpath, f)
            try:
                if p.stat().st_mtime >= _STARTED - 1 and DUMMY.encode() in p.read_bytes():
                    bad.append(str(p.relative_to(ROOT)))
            except OSError:
                pass
    if bad:
        print(f"\nFAILED secrets: files written during the run hold the API key: {bad}")
        session.exitstatus = 1


@pytest.fixture(scope="session")
def sim():
    """A simulator (default profile) with delays x0.05, shared by the session."""
    from helpers.backends.simulator import start_simulator
    return start_simulator(time_scale=0.05, seed=0)


@pytest.fixture
def sim_env(monkeypatch, sim):
    """Point LLM_BACKEND=sim at the shared simulator's settings."""
    monkeypatch.setenv("LLM_BACKEND", "sim")
    monkeypatch.setenv("LLM_SIM_TIME_SCALE", "0.05")
    monkeypatch.setenv("LLM_SIM_SEED", "0")
    monkeypatch.delenv("LLM_SIM_PROFILE", raising=False)
    return sim


# Markers by where a test lives, so `python course.py test --quick` can leave out the slow parts.
_BROWSER_FILES = {"test_browser.py", "test_chat_app_browser.py", "test_board_browser.py", "test_keyboard.py"}
_SLOW_TESTS = {"test_every_notebook_runs_without_showing_the_key",
               "test_course_lab_starts_jupyterlab_as_the_current_user",
               # each over 5 s even on two workers: the full run keeps them, --quick leaves them out
               "test_256_concurrent_streams_all_complete_and_memory_returns",
               "test_held_connections_cannot_take_the_server_down",
               "test_killed_simulator_is_restarted_by_the_next_cell",
               "test_queue_overflow_gives_openai_429s_and_loses_nothing",
               "test_fuzz_jsonl_upload_and_batch_never_5xx",
               "test_the_name_cap_holds_under_800_simultaneous_new_names",
               "test_a_stalled_server_fails_after_every_attempt_waited_and_within_the_stated_limit",
               "test_an_orphaned_server_with_a_stalled_request_exits_within_its_bound",
               "test_unreachable_server_is_one_line_in_seconds"}
_LOCAL_TESTS = {"test_tiny_real_sweep"}  # runs the real local model


def pytest_collection_modifyitems(config, items):
    for item in items:
        name = item.path.name
        if name.endswith(".ipynb"):
            item.add_marker(pytest.mark.slow)          # every notebook cell under nbval
        if name in _BROWSER_FILES or "chromium" in item.name:
            item.add_marker(pytest.mark.browser)
        if name == "test_local_model.py" or name == "bench_local.py" or item.name in _LOCAL_TESTS:
            item.add_marker(pytest.mark.local)
        if item.name.split("[")[0] in _SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
