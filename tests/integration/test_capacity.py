"""Lesson 04b's capacity lab: OpenAI's rate-limit headers read through ChatOpenAI, the lab's
caps and bad settings, the Poisson schedule, and the knee rule on hand-made curves."""
import math
import socket

import numpy as np
import pytest
from langchain_openai import ChatOpenAI

from helpers.backends.simulator import start_simulator
from helpers.errors import BackendError
from helpers.lessons import capacity
from helpers.lessons.capacity_knee import find_knee, safe_concurrency
from helpers.llm_server.limits import RateLimiter, go_duration

LIMIT_NAMES = [f"x-ratelimit-{what}-{kind}" for kind in ("requests", "tokens")
               for what in ("limit", "remaining", "reset")]


def lc(server, key: str, **kw):
    return ChatOpenAI(base_url=server.base_url, api_key=key, model="sim", include_response_headers=True,
                      max_retries=0, timeout=10, max_tokens=16, **kw)


# ---- rate-limit headers -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def limited():
    return start_simulator(time_scale=0.05, seed=0, rpm=3, tpm=10_000)


def test_invoke_headers_count_down_per_key_through_chatopenai(limited):
    """langchain_openai puts the raw headers in generation_info["headers"] (chat_models/base.py,
    _generate: include_response_headers), which lands in response_metadata["headers"]."""
    llm = lc(limited, "header-key-a")
    first = llm.invoke("Say hello.").response_metadata["headers"]
    second = llm.invoke("Say hello.").response_metadata["headers"]
    assert set(LIMIT_NAMES) <= set(first)
    assert first["x-ratelimit-limit-requests"] == "3" and first["x-ratelimit-limit-tokens"] == "10000"
    assert (int(first["x-ratelimit-remaining-requests"]), int(second["x-ratelimit-remaining-requests"])) == (2, 1)
    used = 10_000 - int(second["x-ratelimit-remaining-tokens"])
    assert used >= 2 * 16   # each request counts its prompt plus max_tokens
    assert first["x-ratelimit-reset-requests"].endswith("s")
    other = lc(limited, "header-key-b").invoke("Say hello.").response_metadata["headers"]
    assert other["x-ratelimit-remaining-requests"] == "2"   # limits are per key


def test_stream_headers_arrive_on_the_first_chunk(limited):
    chunks = list(lc(limited, "header-key-c").stream("Say hello."))
    assert chunks[0].response_metadata["headers"]["x-ratelimit-remaining-requests"] == "2"


def test_a_429_carries_the_headers_with_nothing_remaining(limited):
    llm = lc(limited, "header-key-d")
    for _ in range(3):
        llm.invoke("Say hello.")
    with pytest.raises(Exception) as err:
        llm.invoke("Say hello.")
    headers = err.value.response.headers
    assert err.value.response.status_code == 429
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert 0 < _seconds(headers["x-ratelimit-reset-requests"]) <= 60 * 0.05


def test_no_limit_means_no_header(sim):
    server = start_simulator(time_scale=0.05, seed=0, profile="local-cpu")   # rpm and tpm off
    headers = lc(server, "k").invoke("hi").response_metadata["headers"]
    assert not [h for h in headers if h.startswith("x-ratelimit")]


def _seconds(text: str) -> float:
    import re
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(float(v) * units[u] for v, u in re.findall(r"([\d.]+)(ms|h|m|s)", text))


@pytest.mark.parametrize("seconds, text", [(0.012, "12ms"), (0, "0s"), (1, "1s"), (1.5, "1.5s"),
                                           (360, "6m0s"), (59.9996, "1m0s"), (3725, "1h2m5s")])
def test_reset_is_written_like_openai(seconds, text):
    assert go_duration(seconds) == text


def test_reset_is_when_the_window_empties():
    r = RateLimiter(rpm=2, tpm=None, window_s=60.0)
    assert r.check("k", 10.0, 5) is None and r.check("k", 30.0, 5) is None
    h = r.headers("k", 40.0)
    assert h["x-ratelimit-remaining-requests"] == "0" and h["x-ratelimit-reset-requests"] == "50s"
    assert "x-ratelimit-limit-tokens" not in h


# ---- the knee rule on hand-made curves ------------------------------------------------------------

CS = [1, 2, 4, 8, 16, 32]


def model_curve(slots=16, k=0.04, tokens=32, rate=90.0, overhead=0.35):
    """Throughput and latency of a closed loop on the simulator's latency model (no queue below `slots`)."""
    thr, lat = [], []
    for c in CS:
        n = min(c, slots)
        latency = (overhead + tokens * (1 + k * (n - 1)) / rate) * max(1, c / slots)
        thr.append(c / latency)
        lat.append(latency)
    return thr, lat


def test_knee_of_a_saturating_curve_is_where_the_slots_run_out():
    thr, lat = model_curve(slots=16)
    knee = find_knee(CS, thr, lat, "max_concurrency")
    assert (knee.kind, knee.setting) == ("knee", 16)
    assert knee.verdict.startswith("knee at max_concurrency=16")


def test_a_curve_still_rising_has_no_knee_and_says_so():
    thr, lat = model_curve(slots=64)
    knee = find_knee(CS, thr, lat, "max_concurrency")
    assert knee.kind == "still_rising" and knee.index is None
    assert knee.verdict.startswith("no knee up to max_concurrency=32") and "knee at" not in knee.verdict


def test_a_flat_curve_has_no_knee_either():
    """One request at a time whatever you send: more in flight only waits longer."""
    lat = [0.5 * c for c in CS]
    knee = find_knee(CS, [2.0] * len(CS), lat, "max_concurrency")
    assert knee.kind == "flat" and knee.verdict.startswith("no knee")


@pytest.mark.parametrize("seed", range(8))
def test_noise_on_the_plateau_does_not_move_the_knee(seed):
    rng = np.random.default_rng(seed)
    thr, lat = model_curve(slots=8)
    thr = [t * (1 + rng.uniform(-0.04, 0.04)) for t in thr]
    lat = [la * (1 + rng.uniform(-0.04, 0.04)) for la in lat]
    assert find_knee(CS, thr, lat).setting == 8


def test_one_bad_point_before_the_knee_does_not_end_the_climb():
    thr, lat = model_curve(slots=16)
    thr[2], lat[2] = thr[1] * 0.7, lat[2] * 3          # max_concurrency=4 was unlucky
    assert find_knee(CS, thr, lat).setting == 16


def test_too_few_or_broken_points():
    assert find_knee([1, 2], [1, 2], [1, 1]).kind == "too_few"
    assert find_knee([1, 2, 4], [1, math.nan, 0], [1, 1, 1]).kind == "too_few"


def test_the_safe_concurrency_takes_the_binding_limit_and_rounds_down():
    assert safe_concurrency(300, 24_000, 115, 1.46) == 5        # tokens bind: 3.48/s × 1.46 s
    assert safe_concurrency(60, 10**9, 100, 2.9) == 2           # requests bind: 1/s × 2.9 s
    assert safe_concurrency(60, None, 100, 0.1) == 1            # at least one


# ---- schedules, caps and bad settings ------------------------------------------------------------

def test_poisson_schedule_is_reproducible_by_seed_and_has_the_asked_rate():
    a = capacity.arrival_times(20.0, 300, "poisson", seed=3)
    assert a == capacity.arrival_times(20.0, 300, "poisson", seed=3)
    assert a != capacity.arrival_times(20.0, 300, "poisson", seed=4)
    assert a[0] == 0 and all(x < y for x, y in zip(a, a[1:]))
    assert 0.8 / 20 < a[-1] / 299 < 1.2 / 20
    assert capacity.arrival_times(4.0, 3, "constant") == [0.0, 0.25, 0.5]


@pytest.mark.parametrize("call, message", [
    (lambda: capacity.arrival_times(0, 5), "rate must be a number of requests per second > 0"),
    (lambda: capacity.arrival_times(-2.0, 5), "rate must be a number of requests per second > 0"),
    (lambda: capacity.arrival_times(2.0, 100_000), "that is the cap"),
    (lambda: capacity.arrival_times(2.0, 5, "bursty"), "kind must be 'constant' or 'poisson'"),
    (lambda: capacity.rate_sweep(None, [500.0], 2.0), "more than the cap of 300"),
    (lambda: capacity.run_point(None, "concurrency", 4, 10**6), "that is the cap"),
])
def test_bad_settings_give_one_clear_line(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert message in str(err.value) and "\n" not in str(err.value)


def test_an_unreachable_server_gives_one_line():
    with socket.socket() as s:      # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    llm = ChatOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", model="sim", max_retries=0, timeout=2)
    with pytest.raises(BackendError) as err:
        capacity.synchronous(llm, 3, progress=False)
    assert "cannot use http://127.0.0.1" in str(err.value) and "\n" not in str(err.value)


@pytest.fixture(scope="module")
def lab_sim():
    return start_simulator(time_scale=0.05, seed=0, rpm=0, tpm=0)


def test_a_closed_loop_point_answers_every_request(lab_sim):
    llm = lc(lab_sim, "lab-a")
    point = capacity.run_point(llm, "concurrency", 4, 8, progress=False)
    assert len(point.records) == 8 and len(point.ok) == 8 and point.n_skipped == 0
    assert point.throughput_rps > 0 and point.p("E2E") > 0


def test_the_time_cap_stops_new_requests(lab_sim):
    llm = lc(lab_sim, "lab-b")
    capacity.preflight(llm)
    before = lab_sim.stats()["completed"]
    point = capacity.run_point(llm, "concurrency", 1, 20, max_seconds=1e-6, progress=False)
    assert point.n_skipped == 20 and not point.records
    assert lab_sim.stats()["completed"] == before


def test_an_open_loop_point_sends_on_its_schedule(lab_sim):
    point = capacity.rate_run(lc(lab_sim, "lab-c"), 40.0, 6, "poisson", seed=1, progress=False)
    assert len(point.ok) == 6
    assert point.scheduled_s == tuple(capacity.arrival_times(40.0, 6, "poisson", seed=1))
    assert all(r.sent_s >= s for r, s in zip(point.records, point.scheduled_s))


def test_the_burst_verdict_is_computed_and_flags_a_late_client():
    from helpers.lessons.capacity_knee import burst_verdict
    assert "1.50× the constant schedule's (higher)" in burst_verdict(20, 0.6, 0.9)
    assert "within 10 % of each other" in burst_verdict(20, 0.6, 0.62)
    assert "can't tell the schedules apart" in burst_verdict(20, 0.6, 0.9, late_s=0.3)


LIMITS = {"rpm": 300, "tpm": 24000, "tokens_per_request": 115, "latency_s": 1.46}


@pytest.mark.parametrize("answer, words", [
    (5, None), (304, "divide the limits by 60"), (7, "take the smaller of the two rates"),
    (584, "divide it by the tokens each request counts"), (6, "Round down"), (2, "Little's law multiplies"),
    (3, "Not yet: in flight = allowed requests per second"),
])
def test_the_safe_concurrency_check_names_each_mistake(answer, words):
    from helpers.quiz.checks import safe_concurrency as check
    ok, why = check(answer, LIMITS)
    assert ok is (words is None) and (words is None or words in why)


def test_on_openai_the_lab_shows_count_and_cost_and_sends_nothing_without_yes(monkeypatch, capsys):
    from types import SimpleNamespace

    from helpers.errors import CourseError
    from helpers.lessons.capacity_plan import plan_lab
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    fake = SimpleNamespace(model_name="gpt-4o-mini")      # no client at all: nothing can be sent
    with pytest.raises(CourseError, match="Nothing was sent"):
        plan_lab(fake, "openai")
    shown = capsys.readouterr().out
    assert "sends about" in shown and "US$" in shown
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    plan = plan_lab(fake, "openai")
    assert plan.backend == "openai" and plan.n_sweep > 0


def test_the_roofline_reads_its_numbers_and_says_what_limits():
    from helpers.lessons.capacity_roofline import Roofline, parameters_from_name
    assert parameters_from_name("SmolLM2-135M-Instruct.Q4_1.gguf") == 135e6
    r = Roofline("m.gguf", 100.0, 135e6, 10.0, 27.0, 1, 90.0)   # 10 GB/s over 100 MB: 100 tokens/s
    assert round(r.memory_roof) == 100 and round(r.compute_roof) == 100
    assert "close to the memory roof" in str(r) and "almost nothing to share" in str(r)
    slow = Roofline("m.gguf", 100.0, 135e6, 10.0, 2700.0, 4, 20.0)
    assert "well under the memory roof" in str(slow) and "up to the compute roof" in str(slow)
