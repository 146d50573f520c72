"""Lesson 03's real-model deep-dive: "one request alone: N tokens/s" and the weight-read rate
say the same thing about their tokens/s, that prefill is in the time (the walkthrough read
5 tokens/s beside "read its weights about 7 times a second (once per token)")."""
import pytest

from helpers import server_batching
from helpers.timing import BatchResult, RequestTiming


def fake(tokens_per_s: float, n=4, tokens=10):
    span = n * tokens / tokens_per_s
    return BatchResult(tuple(RequestTiming(i, 0.0, span, True, None, tokens) for i in range(n)), 1, span, span)


SWEEP = server_batching.SlotsSweep({(1, 1): (fake(7), fake(7.2), fake(6.8)), (1, 4): (fake(7),) * 3},
                                   1.6, 5.0, 4, 8, 3, 30.0, 12.0, 11.0, 10.0, 2, 98.0)


def test_both_rates_say_prefill_is_in_the_time():
    alone = next(line for line in SWEEP.plan().splitlines() if line.startswith("one request alone"))
    assert "5 tokens/s counting the whole request (prefill" in alone
    line = SWEEP.weights_line()
    assert "wrote 7 tokens/s counting the whole request (prefill" in line
    assert "at least 7 times a second: at least 0.7 GB/s" in line
    assert "once per token)" not in line and "about" not in line
    assert SWEEP.weights_gb_per_s == pytest.approx(0.098 * 7)
