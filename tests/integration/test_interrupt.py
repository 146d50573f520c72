"""Pressing the kernel's stop button during a long cell leaves the lesson usable.

A sweep is interrupted while its requests are in flight (we wait for the server to
say so, not for a clock); the cell ends with KeyboardInterrupt, the simulator ends with
no request in flight and no slot busy, and the next cell answers.
"""
import os
import time

import pytest
from jupyter_client import KernelManager
from support.waiting import wait_for

from helpers.backends.simulator import start_simulator

pytestmark = pytest.mark.slow

SETUP = """
from helpers import chat_model
from helpers.lessons import batch_lab, sweep
llm = chat_model(max_tokens=200, timeout=60)
prompts = batch_lab.make_prompts(24, mixed=False)
"""
LONG = "results = sweep.sweep(llm, prompts, (1, 2, 4))"
AFTER = "print('answer:', llm.invoke('Say hello in five words.').content)"




def _run(kc, code: str, timeout_s: float = 120.0) -> list[dict]:
    """Execute `code`; return its iopub messages up to the kernel's idle state."""
    msg_id = kc.execute(code)
    msgs = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=timeout_s)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        msgs.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return msgs
    raise AssertionError(f"the cell did not finish: {code[:40]}")


def test_interrupting_a_sweep_leaves_the_simulator_and_the_kernel_usable():
    srv = start_simulator(time_scale=0.1, seed=0, rpm=0, tpm=0)
    env = {**os.environ, "LLM_BACKEND": "compatible", "LLM_BASE_URL": srv.base_url, "LLM_MODEL": "sim",
           "LLM_API_KEY": "interrupt-test", "COURSE_PROGRESS": "off", "MPLBACKEND": "Agg"}
    km = KernelManager(kernel_name="python3")
    km.start_kernel(env=env)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        assert not [m for m in _run(kc, SETUP) if m["msg_type"] == "error"]
        srv.reset_stats()
        msg_id = kc.execute(LONG)
        wait_for("requests in flight", lambda: srv.stats()["in_flight"] > 0, 120)
        km.interrupt_kernel()
        errors = []
        while True:                      # the interrupted cell's own messages, to its idle
            msg = kc.get_iopub_msg(timeout=120)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "error":
                errors.append(msg["content"]["ename"])
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        assert errors == ["KeyboardInterrupt"], errors
        st = wait_for("the server to settle", lambda: (s := srv.stats())["in_flight"] == 0 and s, 120)
        assert st["busy_slots"] == 0 and st["queue_depth"] == 0, st
        assert st["completed"] < 3 * 24, "the sweep ran to its end: the interrupt did not stop it"
        out = "".join(m["content"].get("text", "") for m in _run(kc, AFTER) if m["msg_type"] == "stream")
        assert out.startswith("answer: "), out
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
