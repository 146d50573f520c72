"""Server-side batching helpers (lesson 03): sizing to a budget, repeats and spread, a figure whose
panels share one y-axis and whose reference lines come from the run, verdicts computed from the
numbers, and a tiny real run on the local model."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from helpers import server_batching  # noqa: E402
from helpers.timing import BatchResult, RequestTiming  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def fake(tokens_per_s: float, n=4, tokens=10):
    span = n * tokens / tokens_per_s
    reqs = tuple(RequestTiming(i, 0.0, span, True, None, tokens) for i in range(n))
    return BatchResult(reqs, 1, span, span)


def made_sweep(speeds: dict[tuple[int, int], list[float]]) -> server_batching.SlotsSweep:
    runs = {k: tuple(fake(v) for v in vs) for k, vs in speeds.items()}
    return server_batching.SlotsSweep(runs, 0.4, 25.0, 4, 16, len(next(iter(speeds.values()))), 30.0,
                                      20.0, 19.0, 18.5, 1, 98.0)


CPU_LIKE = {(1, 1): [25, 26, 24], (1, 4): [26, 25, 27], (4, 1): [25, 24, 26], (4, 4): [27, 30, 26]}


def test_medians_gains_and_verdict_come_from_the_repeats():
    sw = made_sweep(CPU_LIKE)
    assert sw.median(4, 4) == pytest.approx(27)
    assert sw.gains(4, 4) == pytest.approx([27 / 25, 30 / 24, 26 / 26])   # paired by repeat
    assert sw.gain(4, 4) == pytest.approx(27 / 25)                     # medians: what the figure shows
    v = sw.verdict().splitlines()
    assert v[1].startswith("4 slots: 4 in flight gave 1.08x the tokens/s of 1 in flight")
    assert "repeat by repeat 1.00-1.25x" in v[1] and "at most 4x): faster in every repeat, 3% of the way" in v[1]
    assert "ideal batching: at most 1x" in v[0]
    assert "3 repeats x 4 prompts" in sw.plan() and "timeout 30 s" in sw.plan()
    assert sw.weights_gb_per_s == pytest.approx(0.098 * 25)


def test_figure_shares_one_y_axis_and_has_no_conclusion_in_its_title():
    sw = made_sweep(CPU_LIKE)
    fig, axes = server_batching.slots_figure(sw)
    assert len(axes) == 2
    assert axes[0].get_ylim() == axes[1].get_ylim()
    axes[1].set_ylim(0, 7)                                           # shared: one moves the other
    assert axes[0].get_ylim() == (0, 7)
    title = fig._suptitle.get_text()
    assert "3 repeats" in title and "only" not in title and "help" not in title
    ideal = [ln for ln in axes[1].get_lines() if ln.get_label().startswith("ideal batching")][0]
    assert list(ideal.get_ydata()) == pytest.approx([25, 100])       # 4x the measured median at c=1
    assert [t.get_text() for t in axes[1].get_legend().get_texts()][-1].startswith("measured (this run)")
    assert not any(ln.get_label().startswith("ideal") for ln in axes[0].get_lines())   # 1 slot: no gain is ideal
    slower = made_sweep({(4, 1): [30, 30, 30], (4, 4): [27, 27, 28]})
    assert "4 in flight were no faster than 1 in every repeat" in slower.verdict()
    mixed = made_sweep({(4, 1): [30, 30, 30], (4, 4): [27, 33, 29]})
    assert "no clear gain" in mixed.verdict() and "of the way" not in mixed.verdict()


def test_sizing_fits_the_budget_and_never_starves_the_slots():
    n, est, notes = server_batching._size(0.3, 4, 3, 15.0, 4, 8)
    assert n == 4 and est == pytest.approx(14.4) and notes == ()      # as many prompts as fit
    n, est, notes = server_batching._size(0.1, 4, 3, 15.0, 4, 8)
    assert n == 8 and est <= 15                                       # fast: more prompts, capped
    n, est, notes = server_batching._size(1.0, 4, 3, 15.0, 4, 8)
    assert n == 4 and est == pytest.approx(48) and "over the budget" in notes[0]   # busy: said so


@pytest.mark.parametrize("kw", [{"n_parallels": ()}, {"concurrencies": (0, 4)}, {"concurrencies": (4, 4)},
                                {"repeats": 0}, {"budget_s": -1}, {"n_parallels": (1.5,)}])
def test_bad_arguments(kw):
    with pytest.raises(ValueError, match="must"):
        server_batching.local_slots_sweep(**kw)


def test_tiny_real_sweep():
    pytest.importorskip("xllamacpp")
    from helpers import local_model
    try:
        local_model.gguf_path()
    except Exception as e:
        pytest.skip(str(e))
    sw = server_batching.local_slots_sweep(n_parallels=(2,), concurrencies=(1, 2), repeats=2, budget_s=1,
                                           progress=False)
    assert set(sw.runs) == {(2, 1), (2, 2)} and sw.repeats == 2 and sw.n_prompts == 2
    assert sw.max_tokens == server_batching.MAX_TOKENS
    assert all(len(rs) == 2 and all(r.n_errors == 0 and r.tokens_per_s > 0 for r in rs)
               for rs in sw.runs.values())
    assert sw.single_s > 0 and sw.timeout_s >= 30


class _Srv:
    def __init__(self, n_parallel):
        self.base_url, self.model, self.n_parallel = "http://127.0.0.1:9/v1", "fake", n_parallel


@pytest.mark.parametrize("seconds_per_request, cells, n_prompts", [(0.1, 4, 8), (0.3, 4, 4), (1.0, 2, 4)])
def test_a_slow_machine_gets_a_smaller_sweep_and_is_told(monkeypatch, tmp_path, seconds_per_request,
                                                          cells, n_prompts):
    """No real model: the servers and requests are faked, so only the sizing logic is tested."""
    from helpers import local_model

    started, sent = [], []
    monkeypatch.setattr(local_model, "start_local_server", lambda n_parallel: started.append(n_parallel)
                        or _Srv(n_parallel))
    weights = tmp_path / "model.gguf"
    weights.write_bytes(b"x" * 1000)
    monkeypatch.setattr(local_model, "gguf_path", lambda: weights)

    def fake_measure(llm, prompts, c):
        sent.append((llm.request_timeout, c, len(prompts)))
        return fake(10 / seconds_per_request, n=len(prompts), tokens=10)   # each request: seconds_per_request

    monkeypatch.setattr(server_batching, "measure_batch", fake_measure)
    sw = server_batching.local_slots_sweep(progress=False, budget_s=15)
    assert len(sw.runs) == cells and sw.n_prompts == n_prompts and sw.repeats == 3
    assert all(len(rs) == 3 for rs in sw.runs.values())
    if cells == 2:                                                    # slow: the 1-slot control left out
        assert set(sw.runs) == {(4, 1), (4, 4)} and started == [4]
        assert "1-slot control is left out" in sw.plan() and "over the budget" in sw.plan()
        assert sw.timeout_s >= 5 * 4 * 1.0                            # derived from the measured speed
    else:
        assert started == [4, 1] and "left out" not in sw.plan()


def test_a_one_slot_gain_above_the_ideal_is_explained_not_left_contradicting_it():
    sw = made_sweep({(1, 1): [8.0, 9.0, 8.5], (1, 4): [11.0, 11.5, 10.5]})
    line = sw.verdict().splitlines()[0]
    assert "ideal batching: at most 1x" in line and "faster in every repeat, although one slot cannot batch" in line


class _Clock:
    """A fake perf_counter: the fake servers and requests move it, so no test waits on a real clock."""

    def __init__(self):
        self.now = 100.0

    def perf_counter(self):
        return self.now


def _fake_machine(monkeypatch, tmp_path, start_s: float, seconds_per_request: float):
    from helpers import local_model

    clock, started = _Clock(), []
    monkeypatch.setattr(server_batching, "time", clock)
    monkeypatch.setattr(server_batching, "_COLD_START_S", [0.0])

    def start(n_parallel):
        clock.now += start_s
        started.append(n_parallel)
        return _Srv(n_parallel)

    def measure(llm, prompts, c):               # no gain from batching: each request costs the same
        clock.now += len(prompts) * seconds_per_request
        return fake(10 / seconds_per_request, n=len(prompts), tokens=10)

    monkeypatch.setattr(local_model, "start_local_server", start)
    monkeypatch.setattr(server_batching, "measure_batch", measure)
    weights = tmp_path / "model.gguf"
    weights.write_bytes(b"x" * 1000)
    monkeypatch.setattr(local_model, "gguf_path", lambda: weights)
    return started


def test_sizing_counts_the_fixed_time_of_the_cell():
    n, est, notes = server_batching._size(0.3, 2, 3, 12.0, 4, 8, fixed_s=6.0)
    assert n == 4 and est == pytest.approx(6 + 2 * 3 * 4 * 0.3) and "over the budget" in notes[0]
    assert "needs about 13 s" in notes[0]
    n, est, notes = server_batching._size(0.1, 2, 3, 12.0, 4, 8, fixed_s=6.0)
    assert n == 8 and est == pytest.approx(6 + 2 * 3 * 8 * 0.1) and notes == ()


def test_the_estimate_is_the_whole_cell_and_matches_what_it_does(monkeypatch, tmp_path):
    """Server starts and warm-ups are part of the estimate (the old one counted only the runs)."""
    started = _fake_machine(monkeypatch, tmp_path, start_s=4.0, seconds_per_request=0.3)
    sw = server_batching.local_slots_sweep(n_parallels=(4,), concurrencies=(1, 4), repeats=3, budget_s=20,
                                           progress=False)
    assert started == [4] and sw.n_prompts == 8                       # 15.1 s left after 4.9 s of start-up
    assert sw.estimate_s == pytest.approx(sw.total_s, abs=0.01) and sw.total_s <= 20
    assert sw.total_s == pytest.approx(4 + 0.3 * 3 + 2 * 3 * 8 * 0.3)      # start, warm-up, alone x2, runs
    assert f"this cell took {sw.total_s:.0f} s (estimated {sw.estimate_s:.0f} s)" in sw.plan()


def test_the_control_runs_in_a_second_cell_with_the_same_size(monkeypatch, tmp_path):
    started = _fake_machine(monkeypatch, tmp_path, start_s=3.0, seconds_per_request=0.3)
    first = server_batching.local_slots_sweep(n_parallels=(4,), budget_s=20, progress=False)
    both = server_batching.local_slots_sweep(n_parallels=(1,), budget_s=20, progress=False, after=first)
    assert started == [4, 1] and set(both.runs) == {(4, 1), (4, 4), (1, 1), (1, 4)}
    assert both.n_prompts == first.n_prompts and both.repeats == 3 and both.timeout_s == first.timeout_s
    assert both.runs[4, 4] == first.runs[4, 4]                              # the first cell's runs kept
    assert both.estimate_s == pytest.approx(both.total_s, abs=0.01)
    assert both.plan().startswith("added: 2 settings (1 slot, 1 in flight, 1 slot, 4 in flight)")
    assert len(server_batching.slots_figure(both)[1]) == 2
    again = server_batching.local_slots_sweep(n_parallels=(1,), budget_s=20, progress=False, after=both)
    assert again.runs == both.runs and again.plan() == "nothing to add: the sweep already has the 1-slot server"
    assert started == [4, 1]


def test_a_control_that_cannot_fit_is_left_out_with_its_estimate(monkeypatch, tmp_path):
    started = _fake_machine(monkeypatch, tmp_path, start_s=5.0, seconds_per_request=1.5)
    first = server_batching.local_slots_sweep(n_parallels=(4,), budget_s=20, progress=False)
    assert "over the budget: even the smallest useful sweep" in first.plan()          # said, with its estimate
    assert f"needs about {first.estimate_s:.0f} s" in first.plan()
    both = server_batching.local_slots_sweep(n_parallels=(1,), budget_s=20, progress=False, after=first)
    assert started == [4] and set(both.runs) == set(first.runs)
    assert both.plan().startswith("left out: the 1-slot server would take about 42 s here")   # 6.5 s start + 24 x 1.5 s
