"""Two TTFT rules applied to one stream that may carry no text (lesson 02's deep dive).

`two_rules(runnable, prompt)` streams once, stamps every chunk on one clock, and applies
both rules to the same stamps:

- the text-only rule: the first chunk whose `content` is text. A tool-call stream has none,
  nor has `with_structured_output(...).stream()` (its pieces are Python objects), so a
  measurement that waits for text can only report the end of the stream;
- time to first output (`helpers.metrics_live.is_output`, the course's TTFT): the first
  text, tool-call piece (`tool_call_chunks`) or JSON piece (a non-empty partial object).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..metrics_live import is_output


def _has_text(chunk: Any) -> bool:
    content = chunk if isinstance(chunk, str) else getattr(chunk, "content", None)
    return isinstance(content, str) and bool(content)


@dataclass(frozen=True)
class TwoRules:
    """One stream's chunk times and what each rule reports (seconds from the call)."""
    n_chunks: int
    n_text: int          # chunks with text content
    n_output: int        # chunks with output (text, tool-call piece, JSON piece)
    n_tool_pieces: int   # chunks with a tool-call piece
    first_text_s: float | None
    first_output_s: float | None
    end_s: float
    expected_tool_call: bool = False

    @property
    def text_rule_s(self) -> float:
        """What a text-only measurement reports: the first text, else the end of the stream."""
        return self.first_text_s if self.first_text_s is not None else self.end_s

    def report(self) -> str:
        if self.expected_tool_call and not self.n_tool_pieces:
            return (f"No tool call came back: this server answered in text ({self.n_text} chunks with text), "
                    "so there is nothing to compare here.")
        head = (f"{self.n_chunks} chunks: {self.n_text} with text, {self.n_output} with output"
                f" ({self.n_tool_pieces} tool-call pieces)")
        if self.first_output_s is None:
            return head + "\nno output arrived: nothing to compare"
        text = (f"first text at {self.first_text_s:.2f} s" if self.first_text_s is not None
                else f"no text at all, so it reports the end: {self.end_s:.2f} s")
        return "\n".join([head, f"text-only rule:        {text}",
                          f"time to first output:  {self.first_output_s:.2f} s",
                          f"the stream ended at:   {self.end_s:.2f} s"])


def two_rules(runnable: Any, prompt: Any, expect_tool_call: bool = False) -> TwoRules:
    """Stream `runnable.stream(prompt)` once and apply both TTFT rules to its chunks.

    expect_tool_call: the runnable has tools bound; a server that ignores them answers in
    text, and the report then says so in one line instead of comparing.
    """
    if not hasattr(runnable, "stream"):
        raise ValueError(f"expected a chat model or a runnable with .stream(), got {runnable!r:.40}")
    t0 = time.perf_counter()
    stamps = [(time.perf_counter() - t0, chunk) for chunk in runnable.stream(prompt)]
    end = time.perf_counter() - t0
    texts = [t for t, c in stamps if _has_text(c)]
    outputs = [t for t, c in stamps if is_output(c)]
    tools = [t for t, c in stamps if getattr(c, "tool_call_chunks", None)]
    return TwoRules(len(stamps), len(texts), len(outputs), len(tools), texts[0] if texts else None,
                    outputs[0] if outputs else None, end, expect_tool_call)
