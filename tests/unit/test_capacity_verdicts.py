"""Lesson 04b's computed verdicts: the knee's words match the knee rule, and the rate-limit check
says when a run was too slow to meet the limit instead of reading its lack of 429s as a pass."""
from helpers.lessons.capacity_knee import find_knee
from helpers.lessons.capacity_limits import LimitRun, limits_verdict

CS = [1, 2, 4, 8, 16, 32]


def test_past_the_knee_throughput_grows_by_less_than_latency_and_the_verdict_says_so():
    """Throughput still rises a lot past the knee (+120 %), but latency rises 10x: the rule puts the
    knee at 2, and the verdict must not read as if throughput kept paying."""
    thr = [10, 20, 24, 30, 38, 44]                   # 20 -> 44: +120 %
    lat = [1.0, 1.0, 1.6, 2.6, 4.2, 10.0]            # 1.0 -> 10.0: +900 %
    knee = find_knee(CS, thr, lat, "max_concurrency")
    assert (knee.kind, knee.setting) == ("knee", 2)
    assert "throughput grew +120 %, less than p50 latency did (+900 %, 10.0×)" in knee.verdict


def test_a_flat_plateau_past_the_knee_says_throughput_rose_no_more_than_the_tolerance():
    thr = [10, 20, 40, 41, 40, 42]
    lat = [1.0, 1.0, 1.0, 2.0, 4.0, 8.0]
    knee = find_knee(CS, thr, lat, "max_concurrency")
    assert knee.setting == 4
    assert "throughput changed +5 % (not more than 10 %)" in knee.verdict and "less than" not in knee.verdict


def run(c, n, n_429, seconds):
    return LimitRun(c, n, n - n_429, n_429, seconds)


def test_a_run_too_slow_to_meet_the_limit_shows_nothing_and_says_so():
    """At test settings the client sent 113-270 requests/s against a limit of 380/s: 0 429s."""
    verdict = limits_verdict([run(12, 148, 0, 1.0), run(24, 148, 0, 0.8)], 380.0, 114, 0.3)
    assert "this run sent too slowly to reach the limit: 185 requests/s" in verdict
    assert "vs the limit's 380/s, so it shows nothing about the limit" in verdict


def test_a_run_that_outran_the_limit_counts_its_429s():
    verdict = limits_verdict([run(12, 148, 0, 3.9), run(24, 148, 31, 1.9)], 38.0, 114, 3.0)
    assert verdict.startswith("12 in flight got 0 429s of 148")
    assert "twice the safe value (24 in flight) got 31 429s of 148, sending 78 requests/s" in verdict


def test_fast_enough_but_no_full_window_is_not_called_a_pass_or_a_failure():
    verdict = limits_verdict([run(12, 100, 0, 3.0), run(24, 100, 0, 2.0)], 38.0, 114, 3.0)
    assert "above the limit's 38/s" in verdict and "no 429" in verdict
