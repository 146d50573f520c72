"""The latency model against its formulas (exact numbers)."""
import math

import pytest

from helpers.llm_server.latency import (
    PROFILES,
    Job,
    SlotScheduler,
    decode_rate,
    get_profile,
    jitter_factor,
    makespan_s,
    predict_batch,
    predict_single,
    prefill_s,
    total_throughput,
)

P = get_profile("hosted-small")  # overhead 0.35, prefill 8000 tok/s, 90 tok/s, k=0.04, 16 slots


def test_prefill_and_rate_formulas():
    assert prefill_s(P, 800) == pytest.approx(0.35 + 0.1)
    assert decode_rate(P, 1) == pytest.approx(90)
    assert decode_rate(P, 11) == pytest.approx(90 / 1.4)
    assert decode_rate(P, 1, speed=2) == pytest.approx(180)


def test_throughput_rises_then_saturates():
    tp = [total_throughput(P, n) for n in range(1, 40)]
    assert all(b >= a for a, b in zip(tp, tp[1:]))
    assert tp[15] == pytest.approx(16 * 90 / 1.6)
    assert tp[-1] == tp[15]  # capped by the 16 slots
    assert tp[15] < 90 / 0.04


def test_single_request_timeline():
    p = predict_single(P, Job(prompt_tokens=80, completion_tokens=91))
    assert p.ttft_s == pytest.approx(0.35 + 0.01)
    assert p.latency_s == pytest.approx(0.36 + 90 / 90)


def test_concurrent_requests_share_the_decoder():
    preds = predict_batch(P, [Job(0, 101)] * 4, max_concurrency=4)
    alone = 0.35 + 100 / 90
    together = 0.35 + 100 / decode_rate(P, 4)
    assert all(p.end_s == pytest.approx(together) for p in preds)
    assert together > alone


def test_client_concurrency_one_is_sequential():
    preds = predict_batch(P, [Job(0, 10)] * 3, max_concurrency=1)
    one = 0.35 + 9 / 90
    assert [p.end_s for p in preds] == pytest.approx([one, 2 * one, 3 * one])
    assert makespan_s(preds) == pytest.approx(3 * one)


def test_queue_waits_for_a_free_slot():
    prof = get_profile("hosted-small").__class__(**{**P.to_dict(), "slots": 2})
    preds = predict_batch(prof, [Job(0, 10)] * 4, max_concurrency=4)
    first_end = preds[0].end_s
    assert preds[2].admitted_s == pytest.approx(first_end)
    assert preds[2].admitted_s - preds[2].sent_s > 0


def test_cancel_frees_the_slot_at_once():
    prof = P.__class__(**{**P.to_dict(), "slots": 1})
    s = SlotScheduler(prof)
    assert s.arrive("a", 0.0, Job(0, 100)) and s.arrive("b", 0.0, Job(0, 100))
    assert "b" not in s.admitted
    s.cancel("a", 0.5)
    assert s.admitted["b"] == pytest.approx(0.5)


def test_queue_limit_refuses():
    prof = P.__class__(**{**P.to_dict(), "slots": 1, "queue_limit": 1})
    s = SlotScheduler(prof)
    assert s.arrive(1, 0, Job(0, 5)) and s.arrive(2, 0, Job(0, 5))
    assert not s.arrive(3, 0, Job(0, 5))


def test_time_scale_and_jitter():
    half = get_profile("hosted-small", 0.5)
    assert predict_single(half, Job(10, 50)).end_s == pytest.approx(predict_single(P, Job(10, 50)).end_s / 2)
    f = jitter_factor(P, 1, "hello")
    assert f == jitter_factor(P, 1, "hello") and abs(f - 1) <= P.jitter
    assert jitter_factor(P, 2, "hello") != f


def test_instant_profile_has_no_delay():
    preds = predict_batch(get_profile("instant"), [Job(5, 50)] * 3, 3)
    assert makespan_s(preds) == 0


@pytest.mark.parametrize("bad", [0, -1, 1.5])
def test_bad_arguments(bad):
    with pytest.raises(ValueError, match="max_concurrency"):
        predict_batch(P, [Job(1, 1)], bad)
    with pytest.raises(ValueError, match="choose one of"):
        get_profile("nope")
    with pytest.raises(ValueError, match="time_scale"):
        P.scaled(0)


def test_all_profiles_are_consistent():
    for p in PROFILES.values():
        assert p.slots >= 1 and p.queue_limit >= 1 and p.default_max_tokens > 0
        assert math.isfinite(predict_single(p, Job(10, 10)).end_s)
