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
