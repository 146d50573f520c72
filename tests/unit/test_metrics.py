"""Serving metrics on hand-made timelines (helpers/metrics.py, helpers/metrics_live.py).

Every expected number is worked out by hand from the stamps, so a wrong formula fails:
TPOT dividing by n instead of n - 1, TTFT taken at an empty first chunk, ITL measured from
the send time, failed requests dropped from goodput, chunks labelled as tokens. The live
part streams from a fake model on a fake clock (no sleeping, no racing the clock).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from langchain_core.messages import AIMessageChunk  # noqa: E402

from helpers import metrics_live  # noqa: E402
from helpers.metrics import (  # noqa: E402
    SLO,
    RequestRecord,
    aggregate_tokens_per_s,
    count_unit,
    goodput,
    mean_itl_s,
    mean_tpot_s,
    metric_percentiles,
    min_samples,
    peak_in_flight,
    percentiles,
)
from helpers.metrics_live import is_output, run_streams, stream_record  # noqa: E402

# sent at 1.0; first output at 1.5; then 1.6, 1.8, 2.1; stream ends at 2.2
FOUR = RequestRecord(sent_s=1.0, piece_times_s=(1.5, 1.6, 1.8, 2.1), end_s=2.2, ok=True, usage_tokens=4)


def test_one_request_by_hand():
    assert FOUR.ttft_s == pytest.approx(0.5)
    assert FOUR.e2e_s == pytest.approx(1.2)
    assert FOUR.itl_s == pytest.approx((0.1, 0.2, 0.3))
    assert FOUR.tpot_s == pytest.approx((1.2 - 0.5) / 3)          # n - 1, not n
    assert FOUR.tokens_per_s == pytest.approx(3 / 0.7)
    assert FOUR.unit == "tokens" and FOUR.n_out == 4


def test_usage_tokens_beat_chunk_count_and_label_says_so():
    two_per_chunk = RequestRecord(0.0, (0.5, 0.6, 0.7), 0.8, usage_tokens=6)
    assert two_per_chunk.n_out == 6 and two_per_chunk.unit == "tokens"
    assert two_per_chunk.tpot_s == pytest.approx(0.3 / 5)
    no_usage = RequestRecord(0.0, (0.5, 0.6, 0.7), 0.8)
    assert no_usage.n_out == 3 and no_usage.unit == "chunks"
    assert no_usage.tpot_s == pytest.approx(0.3 / 2)
    assert count_unit([two_per_chunk, no_usage]) == "chunks"
    assert count_unit([two_per_chunk, FOUR]) == "tokens"


def test_one_token_has_ttft_but_no_tpot_or_itl():
    one = RequestRecord(0.0, (0.4,), 0.45, usage_tokens=1)
    assert one.ttft_s == pytest.approx(0.4)
    assert one.itl_s == ()
    assert one.tpot_s is None and one.tokens_per_s is None
    assert SLO(1.0, 0.05).met_by(one)                 # nothing to miss after the first token (vLLM)


def test_zero_tokens_has_no_ttft_and_misses_the_slo():
    empty = RequestRecord(0.0, (), 0.3, usage_tokens=0)
    assert empty.ttft_s is None and empty.tpot_s is None and empty.itl_s == ()
    assert empty.e2e_s == pytest.approx(0.3)
    assert not SLO().met_by(empty)


def test_failed_requests_count_against_goodput_and_not_in_throughput():
    fast_fail = RequestRecord(0.0, (), 0.01, ok=False, error="RateLimitError: 429")
    good = RequestRecord(0.0, (0.2, 0.23, 0.26), 0.3, usage_tokens=3)      # TPOT 0.05 s exactly
    slow_first = RequestRecord(0.0, (1.5, 1.52), 2.0, usage_tokens=2)     # TTFT 1.5 s > 1 s
    slow_decode = RequestRecord(0.0, (0.2, 0.4, 0.6), 2.0, usage_tokens=3)  # TPOT 0.9 s
    recs = [fast_fail, good, slow_first, slow_decode]
    g = goodput(recs, SLO(ttft_max_s=1.0, tpot_max_s=0.05))
    assert (g.n_requests, g.n_met, g.n_failed) == (4, 1, 1)
    assert g.share == pytest.approx(0.25)
    assert g.window_s == pytest.approx(2.0) and g.goodput_rps == pytest.approx(0.5)
    assert aggregate_tokens_per_s(recs) == pytest.approx((3 + 2 + 3) / 2.0)
    assert "1 of 4" in str(g) and "1 failed" in str(g)


def test_failed_request_has_no_tpot_even_with_pieces():
    cut = RequestRecord(0.0, (0.2, 0.21, 0.22), 0.23, ok=False, error="cut")   # fast, then the stream broke
    assert cut.tpot_s is None
    assert not SLO(1.0, 0.05).met_by(cut) and goodput([cut]).n_met == 0
    assert metric_percentiles([cut])["TTFT"].n == 0


def test_mean_itl_weighs_tokens_mean_tpot_weighs_requests():
    long_fast = RequestRecord(0.0, tuple(0.1 + 0.01 * i for i in range(11)), 0.2, usage_tokens=11)  # 10 gaps of 10 ms
    short_slow = RequestRecord(0.0, (0.1, 0.2), 0.2, usage_tokens=2)                               # 1 gap of 100 ms
    recs = [long_fast, short_slow]
    assert mean_itl_s(recs) == pytest.approx((10 * 0.01 + 0.1) / 11)
    assert mean_tpot_s(recs) == pytest.approx((0.01 + 0.1) / 2)
    assert mean_itl_s(recs) != pytest.approx(mean_tpot_s(recs))


def test_percentiles_and_how_many_samples_a_p99_needs():
    assert (min_samples(99), min_samples(95), min_samples(50)) == (100, 20, 2)
    p = percentiles(range(1, 101), "E2E")
    assert p.n == 100 and p.p50 == pytest.approx(50.5) and p.p99 == pytest.approx(99.01)
    assert p.caveat() == ""
    few = percentiles([1.0, 2.0, 3.0, 10.0], "TTFT")
    assert few.p99 > 9.7 and "p95 and p99" in few.caveat() and "4 samples" in few.caveat()
    assert "p99" in percentiles(range(50), "x").caveat() and "p95" not in percentiles(range(50), "x").caveat()
    with pytest.raises(ValueError, match="between 0 and 100"):
        min_samples(100)


def test_peak_in_flight_counts_overlaps_not_requests():
    a = RequestRecord(0.0, (0.1,), 1.0)
    b = RequestRecord(0.5, (0.6,), 1.5)
    c = RequestRecord(1.0, (1.1,), 2.0)      # starts as a ends: never 3 at once
    assert peak_in_flight([a, b, c]) == 2 and peak_in_flight([a]) == 1 and peak_in_flight([]) == 0


def test_slo_rejects_bad_limits():
    with pytest.raises(ValueError, match="tpot_max_s must be a number of seconds > 0"):
        SLO(1.0, 0)


# ---- what counts as output ---------------------------------------------------------------

def test_empty_and_usage_chunks_are_not_output_tool_calls_and_json_are():
    assert not is_output(AIMessageChunk(content=""))                       # role-only first chunk
    assert not is_output(AIMessageChunk(content="", usage_metadata={"input_tokens": 3, "output_tokens": 2,
                                                                    "total_tokens": 5}))
    assert is_output(AIMessageChunk(content="Hi"))
    tool = AIMessageChunk(content="", tool_call_chunks=[{"name": None, "args": '{"city":', "id": None, "index": 0}])
    assert is_output(tool)
    assert not is_output(AIMessageChunk(content="", tool_call_chunks=[{"name": None, "args": "", "id": "c1",
                                                                        "index": 0}]))
    assert is_output('{"a"') and is_output({"a": 1}) and not is_output({}) and not is_output("")


class _Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


class _FakeModel:
    """Yields (delay, chunk) pairs on a fake clock; `stream_usage` is recorded when passed."""

    def __init__(self, clock, script, fail_after=None):
        self.clock, self.script, self.fail_after, self.kwargs = clock, script, fail_after, None

    def invoke(self, prompt, **kwargs):      # what measure_stream checks a model has
        raise NotImplementedError

    def stream(self, prompt, **kwargs):
        self.kwargs = kwargs
        for i, (dt, chunk) in enumerate(self.script):
            if self.fail_after == i:
                raise RuntimeError("connection dropped\nsecond line")
            self.clock.t += dt
            yield chunk


def _tc(args, name=None):
    return AIMessageChunk(content="", tool_call_chunks=[{"name": name, "args": args, "id": None, "index": 0}])


@pytest.fixture
def clock(monkeypatch):
    c = _Clock()
    monkeypatch.setattr(metrics_live.time, "perf_counter", c)
    return c


def test_stream_record_skips_the_empty_first_chunk_and_reads_usage(clock):
    usage = {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8}
    model = _FakeModel(clock, [(0.2, AIMessageChunk(content="")), (0.3, AIMessageChunk(content="a")),
                               (0.1, AIMessageChunk(content="b")), (0.1, AIMessageChunk(content="c")),
                               (0.05, AIMessageChunk(content="", usage_metadata=usage))])
    r = stream_record(model, "hi")
    assert r.ttft_s == pytest.approx(0.5)              # not 0.2 (the empty chunk)
    assert r.e2e_s == pytest.approx(0.75)
    assert r.itl_s == pytest.approx((0.1, 0.1))
    assert r.unit == "tokens" and r.n_out == 3 and r.text == "abc"
    assert r.tpot_s == pytest.approx(0.25 / 2)


def test_stream_record_tool_call_only_stream_has_a_real_ttft(clock):
    model = _FakeModel(clock, [(0.2, AIMessageChunk(content="")), (0.3, _tc("", name="weather")),
                               (0.1, _tc('{"city":')), (0.1, _tc(' "Oslo"}')), (0.4, AIMessageChunk(content=""))])
    r = stream_record(model, "weather?")
    assert r.ttft_s == pytest.approx(0.5)              # the name chunk, not the end of the stream
    assert r.e2e_s == pytest.approx(1.1)
    assert r.unit == "chunks" and r.n_out == 3


def test_stream_record_keeps_an_error_as_one_line(clock):
    model = _FakeModel(clock, [(0.2, AIMessageChunk(content="a"))] * 3, fail_after=2)
    r = stream_record(model, "hi")
    assert not r.ok and r.error == "RuntimeError: connection dropped"
    assert r.ttft_s == pytest.approx(0.2) and r.tpot_s is None


def test_stream_usage_is_asked_for_only_where_the_model_has_it(clock):
    from langchain_openai import ChatOpenAI
    llm = ChatOpenAI(model="m", api_key="not-needed", base_url="http://127.0.0.1:9/v1", timeout=1)
    assert metrics_live._stream_kwargs(llm) == {"stream_usage": True}
    assert metrics_live._stream_kwargs(llm.bind(max_tokens=5)) == {"stream_usage": True}
    fake = _FakeModel(clock, [(0.1, "x")])
    stream_record(fake, "hi")
    assert fake.kwargs == {}


def test_run_streams_caps_and_bad_settings(clock):
    fake = _FakeModel(clock, [(0.1, AIMessageChunk(content="a"))])
    with pytest.raises(ValueError, match="max_concurrency must be a whole number >= 1"):
        run_streams(fake, ["a"], 0)
    with pytest.raises(ValueError, match="3 prompts is more than max_requests=2"):
        run_streams(fake, ["a", "b", "c"], 1, max_requests=2)
    with pytest.raises(ValueError, match="max_seconds must be a number of seconds > 0"):
        run_streams(fake, ["a"], 1, max_seconds=-1)
    with pytest.raises(ValueError, match="non-empty list"):
        run_streams(fake, [], 1)
    slow = _FakeModel(clock, [(5.0, AIMessageChunk(content="a")), (5.0, AIMessageChunk(content="b"))])
    run = run_streams(slow, ["p1", "p2", "p3"], 1, max_seconds=7)
    # p1 is cut at its second chunk (t=10 > 7); p2 and p3 never start
    assert len(run.records) == 1 and run.n_skipped == 2
    assert not run.records[0].ok and "time cap" in run.records[0].error


def test_measure_stream_uses_the_same_first_output_rule(monkeypatch):
    """The course's `measure_stream` (lessons 02-04) stamps TTFT at the first output too: on a
    tool-call-only stream that is the name chunk, not the end of the stream (the text-only rule)."""
    from helpers import timing
    c = _Clock()
    monkeypatch.setattr(timing.time, "perf_counter", c)
    model = _FakeModel(c, [(0.2, AIMessageChunk(content="")), (0.3, _tc("", name="weather")),
                           (0.1, _tc('{"city": "Oslo"}')), (0.4, AIMessageChunk(content=""))])
    r = timing.measure_stream(model, "weather?")
    assert r.ttft_s == pytest.approx(0.5) and r.total_s == pytest.approx(1.0)
    text = _FakeModel(c, [(0.2, AIMessageChunk(content="")), (0.3, AIMessageChunk(content="Hi"))])
    assert timing.measure_stream(text, "hi").ttft_s == pytest.approx(0.5)
