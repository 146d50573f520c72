"""Tests for the verdicts in helpers/plots.py: every title that states a finding is
computed from the numbers it describes (hand-made data, no clock involved)."""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from helpers import plots  # noqa: E402
from helpers.plots import stream_verdict, trend_verdict  # noqa: E402
from helpers.timing import BatchResult, InvokeResult, RequestTiming, StreamResult  # noqa: E402

CS = [1, 2, 4, 8, 16, 32]


@pytest.mark.parametrize("ys, expected", [
    # rise, then flat: the old title's story, told with this run's numbers
    ([10, 19, 31, 52, 53, 51], "throughput rose 5.2× from 1 to 8, then stayed within 10 % of its peak up to 32"),
    # rise, then fall: the sweep that fell from 53 to 46 requests/s at 32
    ([10, 19, 31, 50, 53, 46], "throughput rose 5.0× from 1 to 8, then fell 13 % below its peak by 32"),
    # flat: concurrency did nothing
    ([20, 21, 20.5, 19.8, 20.2, 20.9], "throughput stayed within 10 % from 1 to 32"),
    # noisy: up, down, up, down, back
    ([10, 30, 22, 31, 18, 30], "throughput rose 3.0× from 1 to 2, then dipped up to 42 % below its peak "
                               "and ended within 10 % of it"),
    # a dip on the way up is named
    ([10, 20, 15, 40, 41, 40], "throughput rose 4.0× from 1 to 8 (not steadily: it dipped at 4), "
                               "then stayed within 10 % of its peak up to 32"),
    # still rising at the end
    ([1, 2, 4, 8, 16, 30], "throughput rose 30.0× from 1 to 32, and was still rising at the largest setting"),
    # highest at the start, then falls (e.g. a CPU that thrashes)
    ([50, 49, 40, 30, 25, 20], "throughput was within 10 % of its peak at 1, then fell 60 % below its peak by 32"),
])
def test_trend_verdict_describes_the_data(ys, expected):
    assert trend_verdict(CS, ys) == expected


def test_trend_verdict_never_says_flattens_when_the_data_falls():
    verdict = trend_verdict([1, 8, 32], [10, 53, 46])
    assert "fell 13 %" in verdict and "within" not in verdict


def test_trend_verdict_sorts_skips_nan_and_names_the_quantity():
    assert trend_verdict([8, 1, 4], [40, 10, 38], "p95 latency") == \
        "p95 latency rose 3.8× from 1 to 4, then stayed within 10 % of its peak up to 8"
    assert trend_verdict([1, 2, 4], [10, math.nan, 10.5]) == "throughput stayed within 10 % from 1 to 4"
    assert "too few" in trend_verdict([1, 2], [math.nan, 3.0])


def test_trend_verdict_tolerance_is_a_parameter():
    assert "stayed within 5 % of its peak" not in trend_verdict([1, 2, 3], [10, 50, 47], tol=0.05)
    assert "fell 6 % below" in trend_verdict([1, 2, 3], [10, 50, 47], tol=0.05)


@pytest.mark.parametrize("inv, ttft, total, expected", [
    (1.00, 0.05, 1.01, "stream showed text after 0.05 s, invoke after 1.00 s (20× later); "
                       "stream finished at 1.01 s, 1 % later than invoke"),
    # the local-model run that contradicted "both finish at about the same time"
    (6.74, 0.40, 4.95, "stream showed text after 0.40 s, invoke after 6.74 s (17× later); "
                       "stream finished at 4.95 s, 27 % sooner than invoke"),
    (2.000, 0.10, 2.005, "stream showed text after 0.10 s, invoke after 2.00 s (20× later); "
                         "stream finished at 2.00 s, less than 1 % apart from invoke"),
])
def test_stream_verdict_reports_numbers_never_the_same(inv, ttft, total, expected):
    assert stream_verdict(inv, ttft, total) == expected
    assert "same" not in expected


def test_visible_text_title_is_computed():
    inv = InvokeResult("p", "x" * 40, 6.74, 10, 30)
    st = StreamResult("p", "x" * 40, 0.40, 4.95, (0.40, 2.0, 4.95), ("x" * 10, "x" * 10, "x" * 20), 30)
    fig, ax = plots.visible_text(inv, st, "local")
    title = " ".join(ax.get_title().split())
    assert "about the same" not in title and "27 % sooner than invoke" in title
    plt.close(fig)


def _batch(rps: float, p95: float) -> BatchResult:
    reqs = tuple(RequestTiming(i, 0.0, p95, True, None, 10) for i in range(10))
    return BatchResult(reqs, 1, 10 / rps, p95)


def test_sweep_titles_are_computed_from_the_sweep():
    results = {1: _batch(10, 1.0), 8: _batch(53, 1.5), 32: _batch(46, 6.0)}
    fig, (a1, a2) = plots.concurrency_sweep(results, backend="sim")
    assert " ".join(a1.get_title().split()) == \
        "measured throughput rose 5.3× from 1 to 8, then fell 13 % below its peak by 32"
    assert " ".join(a2.get_title().split()).startswith("measured p95 latency rose 6.0× from 1 to 32")
    assert "flattens" not in fig.get_suptitle() and "not faster" not in fig.get_suptitle()
    plt.close(fig)
