"""Shared fixtures: a simulator on loopback, shrunk in time."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("COURSE_PROGRESS", "off")
# Plain `pytest` (not via course.py) must never run the notebooks on a paid API or at real speed.
os.environ.setdefault("LLM_BACKEND", "sim")
os.environ.setdefault("LLM_SIM_TIME_SCALE", "0.1")
os.environ.setdefault("MPLBACKEND", "Agg")


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
_BROWSER_FILES = {"test_browser.py", "test_chat_app_browser.py"}
_SLOW_TESTS = {"test_every_notebook_runs_without_showing_the_key",
               "test_course_lab_starts_jupyterlab_as_the_current_user"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        name = item.path.name
        if name.endswith(".ipynb"):
            item.add_marker(pytest.mark.slow)          # every notebook cell under nbval
        if name in _BROWSER_FILES or "chromium" in item.name:
            item.add_marker(pytest.mark.browser)
        if name == "test_local_model.py" or name == "bench_local.py":
            item.add_marker(pytest.mark.local)
        if item.name.split("[")[0] in _SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
