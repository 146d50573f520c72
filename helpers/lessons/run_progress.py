"""Lesson 05's live progress for `.batch()`: a tqdm bar that a LangChain callback moves one step
per finished input, so a long batch (ingestion, evaluation, cost runs) shows its step while it runs.

    with rag.progress_bar(len(questions), "evaluation batch", unit="answer") as bar:
        outputs = chain.batch(questions, config={"callbacks": [bar]})
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

from langchain_core.callbacks import BaseCallbackHandler


class ProgressCallback(BaseCallbackHandler):
    """Lesson 05: moves a tqdm bar one step each time a top-level run ends (one per input of a
    `.batch()`): a chain's last step, or a lone chat model's answer. Nested runs do not count."""

    def __init__(self, bar):
        super().__init__()
        self._lock, self.bar = threading.Lock(), bar

    def _tick(self, parent_run_id) -> None:
        if parent_run_id is None:
            with self._lock:
                self.bar.update(1)

    def on_chain_end(self, outputs, *, run_id, parent_run_id=None, **kwargs) -> None:
        self._tick(parent_run_id)

    def on_llm_end(self, response, *, run_id, parent_run_id=None, **kwargs) -> None:
        self._tick(parent_run_id)


@contextmanager
def progress_bar(total: int, desc: str, unit: str = "answer"):
    """A tqdm bar named `desc` (lesson 05), yielded as a callback for `config={"callbacks": [bar]}`;
    closed when the block ends, even on an error or an interrupt."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit=unit)
    try:
        yield ProgressCallback(bar)
    finally:
        bar.close()
