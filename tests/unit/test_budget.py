"""Sizing experiments to the backend's measured speed (helpers/budget.py)."""
import math

import pytest

from helpers import budget, chat_model, rag

LOCAL_LIKE = budget.Speed("local", first_token_s=0.3, prompt_tokens_per_s=150.0,
                          output_tokens_per_s=80.0, one_at_a_time=True)
HOSTED_LIKE = budget.Speed("sim", first_token_s=0.35, prompt_tokens_per_s=6000.0,
                           output_tokens_per_s=95.0, one_at_a_time=False)


def test_speed_from_two_prompt_lengths():
    s = budget.speed_from("local", 0.30, 2.30, 20, 320, [60.0, 80.0])
    assert s.prompt_tokens_per_s == pytest.approx(150.0)
    assert s.output_tokens_per_s == 80.0
    assert s.one_at_a_time and s.first_token_s == 0.30
    assert s.seconds_for(300, 80) == pytest.approx(0.3 + 2.0 + 1.0)


def test_prefill_lost_in_jitter_counts_as_free_and_decode_has_a_safe_fallback():
    s = budget.speed_from("sim", 0.35, 0.34, 20, 320, [float("nan"), 0.0])
    assert math.isinf(s.prompt_tokens_per_s) and not s.one_at_a_time
    assert s.output_tokens_per_s == 20.0
    assert "too fast to measure" in str(s)


def test_slow_one_at_a_time_backend_gets_fewer_requests_one_in_flight_and_a_longer_timeout():
    # The CI failure of issue 20: 12 RAG prompts of ~1,100 tokens, 4 in flight, a fixed 60 s timeout.
    plan = budget.plan_batch(LOCAL_LIKE, 12, prompt_tokens=1100, output_tokens=200,
                             max_concurrency=4, what="questions")
    per_request = LOCAL_LIKE.seconds_for(1100, 200)          # about 10.2 s
    assert plan.max_concurrency == 1
    assert plan.n == 2 and plan.n_wanted == 12
    assert plan.timeout_s == pytest.approx(budget.SAFETY * per_request)
    assert plan.expected_s == pytest.approx(2 * per_request)
    assert "2 of 12 questions" in plan.note and "max_concurrency=1, not 4" in plan.note


def test_fast_backend_runs_everything_with_the_asked_concurrency():
    plan = budget.plan_batch(HOSTED_LIKE, 12, prompt_tokens=1100, output_tokens=200, max_concurrency=4)
    assert (plan.n, plan.max_concurrency) == (12, 4)
    assert plan.timeout_s == budget.MIN_TIMEOUT_S
    assert "all 12 requests" in str(plan)


def test_a_budget_fits_whole_waves_of_concurrent_requests():
    per = HOSTED_LIKE.seconds_for(1100, 200)                  # about 2.6 s
    plan = budget.plan_batch(HOSTED_LIKE, 100, 1100, 200, max_concurrency=4, budget_s=3 * per + 0.1)
    assert plan.n == 12                                        # 3 waves of 4 fit
    one = budget.plan_batch(HOSTED_LIKE, 100, 1100, 200, max_concurrency=1, budget_s=3 * per + 0.1)
    assert one.n == 3


@pytest.mark.parametrize("kwargs, word", [
    ({"n_wanted": 0}, "n_wanted"), ({"max_concurrency": 0}, "max_concurrency"),
    ({"max_concurrency": True}, "max_concurrency"), ({"budget_s": 0}, "budget_s"),
    ({"prompt_tokens": float("nan")}, "token"),
])
def test_bad_arguments_give_one_clear_line(kwargs, word):
    args = {"n_wanted": 12, "prompt_tokens": 100, "output_tokens": 50, "max_concurrency": 2, **kwargs}
    with pytest.raises(ValueError, match=word):
        budget.plan_batch(LOCAL_LIKE, **args)


def test_prompt_token_estimate_grows_with_k():
    texts = ["x" * 400] * 10
    k2, k8 = rag.prompt_tokens(texts, 2), rag.prompt_tokens(texts, 8)
    assert k2 == budget.estimate_tokens("x" * (800 + len(rag.SYSTEM) + 60))
    assert k8 - k2 == 600                                     # 6 more chunks of 100 tokens
    with pytest.raises(ValueError):
        rag.prompt_tokens(texts, 0)


def test_measure_speed_on_the_simulator_over_real_http():
    llm = chat_model(max_tokens=50)
    speed = budget.measure_speed(llm, "sim", refresh=True)
    assert speed.backend == "sim" and not speed.one_at_a_time
    assert 0 < speed.first_token_s < 5 and speed.output_tokens_per_s > 0
    assert budget.measure_speed(llm, "sim") is speed          # cached per model
