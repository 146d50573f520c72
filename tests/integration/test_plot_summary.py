"""Each figure's one-line summary, computed from its data, is printed under it in a kernel."""
import os
from pathlib import Path

from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parents[2]


def run(kc, code: str) -> list[tuple[str, str]]:
    outputs = []
    reply = kc.execute_interactive(code, timeout=120, output_hook=outputs.append)
    assert reply["content"]["status"] == "ok", reply["content"]
    return [(m["msg_type"], m["content"].get("text", "")) for m in outputs
            if m["msg_type"] in ("display_data", "stream")]


def test_the_summary_prints_under_the_figure_in_a_kernel():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    km, kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(ROOT))
    try:
        kinds = run(kc, "from helpers.plots.diagram import request_flow\nfig, ax = request_flow()")
        figure = next(i for i, (t, _) in enumerate(kinds) if t == "display_data")
        words = next(i for i, (t, text) in enumerate(kinds) if t == "stream" and "In words:" in text)
        assert figure < words, kinds      # the text comes under the figure
        assert "prefill" in kinds[words][1] and sum("In words:" in t for _, t in kinds) == 1
        assert not any("In words:" in t for _, t in run(kc, "print('next cell')"))   # once only
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
