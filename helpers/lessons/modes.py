"""The three ways lesson 04 does one job, exactly as its cells show them (lesson 04).

    shown_s, all_done_s = invoke_loop(llm, prompts)      # one invoke after another
    shown_s, all_done_s = stream_loop(llm, prompts)      # one stream after another
    shown_s, all_done_s = batch_job(llm, prompts, 4)     # one batch, up to 4 in flight

Each returns, in seconds since the job started, when each answer began to show and when
the whole job was done. The notebook defines the same three functions in its cells (a test
checks that the code is identical), and `compare.run_modes` runs them with a warm-up,
a rotating order and repeats. It also hands them a model with a `Tally` callback attached,
which counts tokens and errors, so the loops stay as short as the lesson shows them.
"""
from __future__ import annotations

import threading
import time

from langchain_core.callbacks import BaseCallbackHandler


def invoke_loop(llm, prompts):
    t0 = time.perf_counter()
    shown = []                                     # when each answer begins to show
    for prompt in prompts:
        llm.invoke(prompt)
        shown.append(time.perf_counter() - t0)     # invoke: the whole answer at once
    return shown, time.perf_counter() - t0         # ... and when the job is done


def stream_loop(llm, prompts):
    t0 = time.perf_counter()
    shown = []
    for prompt in prompts:
        first = None
        for chunk in llm.stream(prompt):
            if first is None and chunk.content:    # the first chunk with text
                first = time.perf_counter() - t0
        shown.append(first or time.perf_counter() - t0)   # no text at all: nothing showed before the end
    return shown, time.perf_counter() - t0


def batch_job(llm, prompts, max_concurrency):
    t0 = time.perf_counter()
    llm.batch(prompts, config={"max_concurrency": max_concurrency}, return_exceptions=True)
    done = time.perf_counter() - t0                # batch() returns one list, all at once
    return [done] * len(prompts), done


LOOPS = (invoke_loop, stream_loop, batch_job)


class Tally(BaseCallbackHandler):
    """Counts what the model calls of one job produced (lesson 04): output tokens, errors,
    each successful call's end (`perf_counter()`), and the answers' text in the order they ended."""

    def __init__(self):
        self.lock = threading.Lock()
        self.tokens, self.errors, self.ends, self.texts = 0, 0, [], []

    def on_llm_end(self, response, **kw):
        try:
            msg = response.generations[0][0].message
        except (IndexError, AttributeError):
            msg = None
        usage = getattr(msg, "usage_metadata", None) or {}
        with self.lock:
            self.tokens += usage.get("output_tokens") or 0
            self.ends.append(time.perf_counter())
            self.texts.append(msg.content if msg is not None and isinstance(msg.content, str) else "")

    def on_llm_error(self, error, **kw):
        with self.lock:
            self.errors += 1
