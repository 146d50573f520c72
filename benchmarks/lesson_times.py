"""How long each lesson takes to run, cell by cell, as a learner would wait for it.

Executes every notebook on a fresh kernel (real speed by default) and prints, per
lesson, the total and the three slowest cells with their first line. A benchmark,
not a test: it shows where a learner waits, so regressions are visible.

    .venv/bin/python benchmarks/lesson_times.py                 # sim at real speed (time scale 1)
    LLM_BACKEND=local .venv/bin/python benchmarks/lesson_times.py
    .venv/bin/python benchmarks/lesson_times.py --time-scale 0.1 notebooks/03_batch.ipynb
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
# Each lesson's first cell opens with a two-line install check; name the cell by what follows it.
GUARD = ("try: import helpers", "except ModuleNotFoundError")


class TimedClient(NotebookClient):
    """An nbclient that stamps every code cell with perf_counter around its execution."""

    def __init__(self, nb, **kw):
        super().__init__(nb, **kw)
        self.cell_times: list[tuple[float, str]] = []

    async def async_execute_cell(self, cell, cell_index, *args, **kw):
        t0 = time.perf_counter()
        try:
            return await super().async_execute_cell(cell, cell_index, *args, **kw)
        finally:
            if cell.cell_type == "code":
                first = next((ln for ln in cell.source.splitlines() if ln.strip() and not ln.startswith(GUARD)), "")
                self.cell_times.append((time.perf_counter() - t0, first[:70]))


def run(path: Path, timeout_s: int) -> tuple[float, list[tuple[float, str]], str]:
    nb = nbformat.read(path, as_version=4)
    client = TimedClient(nb, timeout=timeout_s, kernel_name="python3",
                         resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    error = ""
    try:
        client.execute()
    except Exception as exc:  # noqa: BLE001 -- report it in the table and go on
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:100]}"
    return time.perf_counter() - t0, client.cell_times, error


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*", type=Path)
    ap.add_argument("--time-scale", default="1", help="LLM_SIM_TIME_SCALE (1 = real speed)")
    ap.add_argument("--cell-timeout", type=int, default=600)
    args = ap.parse_args()
    os.environ.update({"LLM_SIM_TIME_SCALE": args.time_scale, "MPLBACKEND": "Agg",
                       "COURSE_PROGRESS": "off"})
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
    backend = os.environ.get("LLM_BACKEND", "sim")
    print(f"backend={backend}, time scale {args.time_scale}, {os.cpu_count()} CPUs\n")
    print("| lesson | total (s) | cells over 3 s | over 20 s | slowest cells (s) |")
    print("|---|---|---|---|---|")
    failed = 0
    for path in paths:
        total, cells, error = run(path, args.cell_timeout)
        slow = sorted(cells, reverse=True)[:3]
        shown = "; ".join(f"{t:.1f} `{line}`" for t, line in slow)
        over3, over20 = sum(t > 3 for t, _ in cells), sum(t > 20 for t, _ in cells)
        print(f"| {path.stem} | {total:.0f} | {over3} | {over20} | {shown}"
              + (f" — FAILED: {error}" if error else "") + " |", flush=True)
        failed += bool(error)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
