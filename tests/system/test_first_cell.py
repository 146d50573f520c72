"""A kernel without the course: each lesson's first cell says, in one line, how to install it.

This is what a learner meets in VS Code with the wrong interpreter, in Colab before the
install line, or on a hub whose image lacks the course. The kernel runs in a fresh venv
whose Python finds this venv's packages (ipykernel, langchain, ...) on PYTHONPATH but not
the course (PYTHONPATH skips .pth files, so the editable install is invisible), started
in an empty folder so no `helpers/` sits next to it.
"""
import json
import os
import sysconfig
import venv
from pathlib import Path

import pytest
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
FIX = "python course.py setup"


def first_code_cell(path: Path) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return "".join(next(c for c in nb["cells"] if c["cell_type"] == "code")["source"])


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    base = tmp_path_factory.mktemp("nocourse")
    venv.create(base / "venv", with_pip=False)
    py = base / "venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    spec = base / "kernels" / "nocourse"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(py), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python without the course", "language": "python"}))
    (base / "empty").mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PYTHONPATH"] = sysconfig.get_paths()["purelib"]
    specs = KernelSpecManager(kernel_dirs=[str(base / "kernels")])
    km = KernelManager(kernel_name="nocourse", kernel_spec_manager=specs)
    km.start_kernel(env=env, cwd=str(base / "empty"))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def run(kc, code: str) -> tuple[list[dict], str]:
    """Execute `code`; its iopub outputs up to idle, and the reply's status."""
    msg_id = kc.execute(code)
    outputs = []
    while True:
        msg = kc.get_iopub_msg(timeout=120)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] in ("stream", "error", "display_data", "execute_result"):
            outputs.append({"type": msg["msg_type"], **msg["content"]})
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    while True:
        reply = kc.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg_id:
            return outputs, reply["content"]["status"]


def test_the_kernel_really_lacks_the_course(kernel):
    outputs, status = run(kernel, "import helpers")
    assert status == "error" and outputs[-1]["ename"] == "ModuleNotFoundError"


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem[:2] for p in LESSONS])
def test_first_cell_says_the_one_line_that_installs_the_course(kernel, path):
    outputs, status = run(kernel, first_code_cell(path))
    errors = [o for o in outputs if o["type"] == "error"]
    # The cell stops (so "Run all" stops too) with one error: a one-line message naming the fix.
    assert status == "error" and len(errors) == 1, outputs
    err = errors[0]
    assert err["ename"] == "SystemExit", err["ename"]
    assert FIX in err["evalue"] and "Colab" in err["evalue"] and "\n" not in err["evalue"]
    # No traceback: no stack frames, no ModuleNotFoundError, nothing printed before the message.
    shown = "".join(err["traceback"]) + "".join(o.get("text", "") for o in outputs if o["type"] == "stream"
                                                 and o["name"] == "stdout")
    assert "ModuleNotFoundError" not in shown and "Traceback" not in shown and "File " not in shown, shown
    assert not [o for o in outputs if o["type"] == "stream" and o["name"] == "stdout"], outputs
