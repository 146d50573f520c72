"""Lesson 06's sizing (helpers/chat_app/sizing.py): the crowd cells' time is estimated from the
measured W and slots by replaying the very arrival times through a queue, and a slow backend gets
fewer users and two cells, said in one line; the buffering demo falls back to a short question."""
import pytest

from helpers.chat_app import crowd, sizing


def test_queue_finish_counts_waiting_for_a_slot():
    assert sizing.queue_finish_s([0, 0, 0], 1.0, 1) == 3.0
    assert sizing.queue_finish_s([0, 0, 0], 1.0, 4) == 1.0
    assert sizing.queue_finish_s([0.0, 5.0], 1.0, 1) == 6.0          # idle until the second arrives
    assert sizing.queue_finish_s([], 1.0, 1) == 0.0


def test_crowd_seconds_replays_the_crowds_own_arrivals():
    arrivals = crowd.poisson_arrivals(30, 5, seed=2)
    assert sizing.crowd_seconds(30, 5, 0.5, 4, seed=2) == pytest.approx(arrivals[-1] + 0.5)
    assert sizing.crowd_seconds(30, 5, 10.0, 1, seed=2, burst=2) == pytest.approx(70.0)   # 7 in a row


def test_a_fast_backend_keeps_the_lessons_rule_in_one_cell():
    plan = sizing.plan_crowd(4 / 1.2 * 60, 1.2, 4, backend="sim")
    rates = [f * 4 / 1.2 * 60 for f in (0.5, 1.0, 1.5)]
    assert plan.steps[0] == tuple((r, max(4, round(r / 60 * 3.0))) for r in rates) and plan.steps[1] == ()
    assert plan.estimates_s[0] <= 25 and "every rate runs in this cell" in str(plan)


def test_a_slow_backend_gets_two_cells_fewer_users_and_is_told():
    w = 3.8
    plan = sizing.plan_crowd(60 / w, w, 1, backend="local")
    assert len(plan.steps[0]) >= 1 and len(plan.steps[0]) + len(plan.steps[1]) == 3
    assert all(n == 3 for step in plan.steps for _, n in step)
    secs = [sizing.crowd_seconds(r, n, w, 1, seed=i) for i, (r, n) in enumerate(plan.steps[0] + plan.steps[1])]
    assert plan.estimates_s[0] == pytest.approx(sum(secs[:len(plan.steps[0])]))
    line = str(plan)
    assert line.startswith("local, 1 slot, W alone 3.8 s: 3, 3, 3 users") and "over the 25 s budget" in line
    assert f"about {plan.estimates_s[0]:.0f} s" in line and "next cell" in line


def test_the_burst_run_shrinks_on_a_slow_backend():
    n, line = sizing.plan_burst(4 / 1.2 * 60, 1.2, 4, 9, backend="sim")
    assert n == max(4, round(0.5 * 4 / 1.2 * 60 / 60 * 3.0)) and "a run" in line
    n, line = sizing.plan_burst(60 / 3.8, 3.8, 1, 3, backend="local")
    assert n == 3 and "using 3 users" in line
    assert sizing.crowd_seconds(0.5 * 60 / 3.8, 3, 3.8, 1, seed=7, burst=3) <= 25


def _answer(wait_s, latency_s, tokens):
    return crowd.AppAnswer(0.0, 0.1, wait_s, latency_s, "done", "x", {"usage": {"output_tokens": tokens}})


def test_the_buffering_demo_drops_the_direct_route_when_three_long_answers_do_not_fit():
    routes = {"direct": "api/chat", "proxy, headers stripped": "proxy/api/chat?bare=1",
              "proxy, X-Accel-Buffering: no": "proxy/api/chat"}
    kept, line = sizing.fit_routes(_answer(0.5, 1.5, 80), routes, backend="sim")     # 80 tokens/s
    assert kept == routes and "about 3.0 s" in line and "all 3 routes, about 9 s" in line
    kept, line = sizing.fit_routes(_answer(2.0, 3.0, 30), routes, backend="local")   # 30 tokens/s
    assert list(kept) == ["proxy, headers stripped", "proxy, X-Accel-Buffering: no"]
    assert "about 8.7 s" in line and "3 routes would take about 26 s" in line and "(about 17 s)" in line
    assert "still over" not in line
    kept, line = sizing.fit_routes(_answer(2.0, 6.0, 40), routes, backend="local")   # 10 tokens/s
    assert len(kept) == 2 and "3 routes would take about 66 s" in line and "still over the budget" in line
