"""Tests for helpers/compare.py (lesson 04): the same job done three ways on the real
simulator over loopback HTTP (repeated, order rotated), the sizing, the verdicts and
guesses computed from hand-made runs, the table, the plots and the scenario -> mode widget."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from langchain_core.language_models.fake_chat_models import FakeListChatModel  # noqa: E402

from helpers import ____, chat_model, compare, load_quiz  # noqa: E402
from helpers.lessons.compare import (  # noqa: E402
    JobRun,
    ModeComparison,
    ModeResult,
    Spread,
    check_mapping,
    mapping_widget,
    mode_table,
)

PROMPTS = ["Why does streaming feel faster?", "When should I batch requests?",
           "What does invoke wait for?", "What is the difference between latency and throughput?",
           "How should a support chatbot answer customers?", "How do I ingest documents for RAG?"]


@pytest.fixture(scope="module")
def llm():
    """A model on the default simulator, delays x0.1 (set before the model is made)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LLM_BACKEND", "sim")
        mp.setenv("LLM_SIM_TIME_SCALE", "0.1")
        mp.delenv("LLM_SIM_PROFILE", raising=False)
        mp.delenv("LLM_MODEL", raising=False)
        yield chat_model(timeout=10, max_retries=0)


@pytest.fixture(scope="module")
def cmp(llm) -> ModeComparison:
    lines: list[str] = []
    result = compare.run_modes(llm, PROMPTS, max_concurrency=4, repeats=3, label="sim", report=lines.append)
    assert [line.split(" (")[0] for line in lines] == ["repeat 1 of 3", "repeat 2 of 3", "repeat 3 of 3"]
    return result


@pytest.fixture
def quiz():
    return load_quiz("04")


# ---- measuring, on the simulator ---------------------------------------------------------

def test_stream_loop_shows_text_before_the_invoke_loop(cmp):
    assert 0 < cmp.stream.first_text.median < cmp.invoke.first_text.median
    assert cmp.winner("first_text_s")[0] == "stream"


def test_batch_finishes_the_job_and_serves_the_mean_answer_sooner_than_the_invoke_loop(cmp):
    assert cmp.batch.all_done.median < cmp.invoke.all_done.median
    assert cmp.batch.mean_wait.median < cmp.invoke.mean_wait.median
    assert cmp.winner("all_done_s")[0] == "batch" and cmp.speedup().median > 1


def test_every_mode_does_the_whole_job_every_repeat(cmp):
    assert cmp.prompts == tuple(PROMPTS) and cmp.max_concurrency == 4 and cmp.label == "sim"
    assert [m.mode for m in cmp.modes] == ["invoke", "stream", "batch"] and cmp.repeats == 3
    for m in cmp.modes:
        assert len(m.runs) == 3 and m.n_errors == 0
        for run in m.runs:
            assert len(run.shown_s) == len(PROMPTS) and run.completion_tokens > 0
            assert 0 < run.first_text_s <= run.mean_wait_s <= run.all_done_s
    for run in cmp.batch.runs:   # batch() hands every answer over at once, when the list is done
        assert set(run.shown_s) == {run.all_done_s} and 0 < run.first_ready_s <= run.all_done_s
    for run in cmp.invoke.runs:  # one after another: each answer shows later than the one before
        assert list(run.shown_s) == sorted(run.shown_s)
    assert cmp.stream.runs[0].completion_tokens == cmp.invoke.runs[0].completion_tokens
    assert cmp.sample_answer.strip()


@pytest.mark.parametrize("prompts, max_concurrency, repeats, text", [
    ([], 4, 3, "non-empty list"), ("one prompt", 4, 3, "non-empty list"), (["ok", " "], 4, 3, "non-empty string"),
    (["ok"], 0, 3, "max_concurrency"), (["ok"], True, 3, "max_concurrency"), (["ok"], None, 3, "max_concurrency"),
    (["ok"], 4, 0, "repeats"), (["ok"], 4, "3", "repeats"),
])
def test_bad_arguments_say_what_to_pass(llm, prompts, max_concurrency, repeats, text):
    with pytest.raises(ValueError, match=text):
        compare.run_modes(llm, prompts, max_concurrency, repeats=repeats)


# ---- fair order: warm-up first, then the modes rotate (no clock: the runs are faked) -------

def test_warm_up_first_then_each_mode_goes_first_once():
    calls: list[str] = []

    class Recorder:
        def invoke(self, prompt, **kw):
            calls.append(f"warm-up {kw}")

        def with_config(self, **kw):       # run_modes attaches its Tally callback this way
            return self

    def way(mode):
        def run(llm, prompts, *max_concurrency):
            calls.append(mode)
            return [1.0] * len(prompts), 2.0
        return run

    result = compare.run_modes(Recorder(), ["a", "b"], 2, repeats=3, loops=[way(m) for m in compare.MODES])
    assert calls[0] == "warm-up {'max_tokens': 8}"
    rounds = [tuple(calls[1 + 3 * i: 4 + 3 * i]) for i in range(3)]
    assert rounds == list(result.orders) == list(compare.orders(3))
    for position in range(3):    # every mode runs first, second and third once
        assert {r[position] for r in rounds} == set(compare.MODES)


@pytest.mark.parametrize("loops", [(print, print), "invoke_loop", (print, print, 3)])
def test_loops_must_be_three_functions(llm, loops):
    with pytest.raises(ValueError, match="loops must be three functions"):
        compare.run_modes(llm, ["a"], 2, loops=loops)


def test_the_notebook_shows_the_code_run_modes_runs():
    """The three ways in lesson 04's cells are the functions `modes` holds, character for character."""
    import inspect
    import json
    from pathlib import Path

    from helpers.lessons import modes
    nb = json.loads((Path(__file__).resolve().parents[2] / "notebooks" / "04_latency_vs_throughput.ipynb")
                    .read_text(encoding="utf-8"))
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    for fn in modes.LOOPS:
        src = inspect.getsource(fn).strip()
        assert any(src in cell for cell in cells), f"lesson 04 has no cell with {fn.__name__} as in helpers"
    assert any("loops=(invoke_loop, stream_loop, batch_job)" in cell for cell in cells)


# ---- sizing the job to the backend ------------------------------------------------------

def test_plan_keeps_the_whole_job_when_it_fits():
    plan = compare.plan_job(0.13, n_max=8, budget_s=60)
    assert (plan.n_prompts, plan.repeats, plan.shrunk, plan.fits) == (8, 3, False, True)
    assert plan.estimate_s == pytest.approx(0.13 * (1 + 3 * 3 * 8))   # a warm-up, then 3 × (8 + 8 + 8)
    assert str(plan) == ("one answer took 0.13 s here: measuring all 8 prompts × 3 repeats, about 7 s, "
                         "or 9 s if the server answers one request at a time; budget 60 s")


def test_plan_shrinks_the_prompts_not_the_repeats_and_says_so():
    plan = compare.plan_job(1.0, n_max=8, budget_s=60)          # a 135M model on a busy CPU
    assert (plan.n_prompts, plan.repeats, plan.shrunk) == (6, 3, True)
    assert plan.estimate_s <= 60
    assert "so all 8 prompts could take 73 s: measuring 6 prompts × 3 repeats, about 43 s" in str(plan)
    slow = compare.plan_job(10.0, n_max=8, budget_s=60)
    assert (slow.n_prompts, slow.repeats) == (2, 3) and "expect a wait" in str(slow)
    assert compare.plan_job(0.1, n_max=8, repeats=1).repeats == 3
    assert compare.plan_job(5.0, n_max=1).n_prompts == 1


def test_a_plan_over_its_budget_says_so_in_one_line_with_its_estimate():
    # The old plan said nothing when n_min kept the job over budget (here about 40 s against 20 s).
    plan = compare.plan_job(0.9, n_max=4, budget_s=20, n_min=4)
    assert plan.n_prompts == 4 and plan.estimate_s > 20
    assert "over the 20 s budget" in str(plan) and f"{plan.estimate_s:.0f} s" in str(plan)
    assert "\n" not in str(plan)


@pytest.mark.parametrize("answer_s", [0.05, 0.3, 0.9, 1.0, 1.6, 2.0, 7.0])
@pytest.mark.parametrize("cells", [1, 2])
def test_plan_never_goes_over_its_budget_without_saying_so_with_its_estimate(answer_s, cells):
    plan = compare.plan_job(answer_s, n_max=4, budget_s=20, cells=cells)
    whole = lambda n: sum(compare.job_seconds(answer_s, n, r)[1] for r in plan.parts)  # noqa: E731
    assert plan.estimate_s == pytest.approx(whole(plan.n_prompts)) and sum(plan.parts) == 3
    if plan.estimate_s > 20:
        assert not plan.fits and plan.n_prompts == 2
        assert "over the 20 s budget" in str(plan) and f"{plan.estimate_s:.0f} s" in str(plan)
        assert "\n" not in str(plan)
    else:
        assert plan.fits and "over the" not in str(plan)
        assert plan.n_prompts == 4 or whole(plan.n_prompts + 1) > 20      # the most that fit


class _CountingModel(FakeListChatModel):
    """Answers at once and counts the answers asked for (invoke, stream and each of batch's)."""

    n_answers: int = 0

    def _call(self, *args, **kwargs):
        self.n_answers += 1
        return super()._call(*args, **kwargs)

    def _stream(self, *args, **kwargs):
        self.n_answers += 1
        yield from super()._stream(*args, **kwargs)


def test_the_plan_counts_the_answers_run_modes_really_asks_for():
    # The old plan counted 4 answers a prompt a repeat (a batch twice a loop) and no warm-up.
    llm = _CountingModel(responses=["ok"])
    plan = compare.plan_job(1.0, n_max=3, budget_s=1000)
    compare.run_modes(llm, ["a", "b", "c"], max_concurrency=1, repeats=plan.repeats)
    assert plan.estimate_s == pytest.approx(llm.n_answers * 1.0)      # 1 warm-up + 3 × (3 + 3 + 3)
    sooner, cautious = compare.job_seconds(1.0, 3, 3, max_concurrency=3)  # batch's 3 requests at once
    assert (sooner, cautious) == (1 + 3 * (3 + 3 + 1), plan.estimate_s)


def test_a_second_cell_adds_repeats_to_the_same_comparison_and_reports_its_time():
    llm = _CountingModel(responses=["ok"])
    plan = compare.plan_job(0.5, n_max=3, budget_s=100, cells=2)
    assert plan.parts == (2, 1) and plan.estimate_s == pytest.approx(sum(
        plan.cell_seconds(r)[1] for r in plan.parts))
    lines: list[str] = []
    first = compare.run_modes(llm, ["a", "b"], 2, repeats=plan.parts[0], label="x", report=lines.append, plan=plan)
    whole = compare.run_modes(llm, ["a", "b"], 2, repeats=plan.parts[1], report=lines.append, plan=plan, after=first)
    assert whole.repeats == 3 and whole.orders == compare.orders(3) and whole.label == "x"
    assert all(len(m.runs) == 3 for m in whole.modes) and whole.sample_answer == "ok"
    assert [ln.split(" (")[0] for ln in lines if ln.startswith("repeat")] == [
        "repeat 1 of 2", "repeat 2 of 2", "repeat 3 of 3"]
    assert lines[2].startswith("these 2 repeats took ") and "the plan's estimate" in lines[2]
    assert lines[4].startswith("this repeat took ")
    with pytest.raises(ValueError, match="same job"):
        compare.run_modes(llm, ["a", "b", "c"], 2, repeats=1, after=first)
    with pytest.raises(ValueError, match="cells must be"):
        compare.plan_job(1.0, n_max=3, cells=4)


@pytest.mark.parametrize("answer_s, n_max, budget_s", [
    (0, 8, 60), (-1, 8, 60), (float("nan"), 8, 60), ("1", 8, 60), (1.0, 0, 60), (1.0, 8, 0)])
def test_plan_rejects_bad_numbers_in_one_line(answer_s, n_max, budget_s):
    with pytest.raises(ValueError, match="must be"):
        compare.plan_job(answer_s, n_max=n_max, budget_s=budget_s)


# ---- verdicts computed from hand-made runs -------------------------------------------------

def _runs(mode, first, done, n=4, tokens=120):
    """One JobRun per repeat: first text at first[i], all done at done[i]."""
    out = []
    for f, d in zip(first, done):
        shown = (d,) * n if mode == "batch" else tuple(f + (d - f) * k / n for k in range(n))
        out.append(JobRun(mode, shown, d, tokens, 0, f if mode == "batch" else None))
    return ModeResult(mode, tuple(out))


def _fake(label, inv, st, b) -> ModeComparison:
    """inv/st/b: ((first texts), (all done)) per repeat."""
    return ModeComparison(label, 4, ("a", "b", "c", "d"), _runs("invoke", *inv), _runs("stream", *st),
                          _runs("batch", *b), compare.orders(3), "text")


SIM_LIKE = _fake("sim", ((0.13, 0.14, 0.13), (1.03, 1.05, 1.04)), ((0.02, 0.02, 0.03), (1.04, 1.02, 1.06)),
                 ((0.37, 0.38, 0.36), (0.37, 0.38, 0.36)))
# the local-model runs that contradicted the old prose: the loops 6.74 s vs 4.95 s, batch slower
LOCAL_LIKE = _fake("local", ((1.7, 1.6, 1.8), (6.74, 6.5, 6.9)), ((0.4, 0.5, 0.4), (4.95, 4.5, 5.1)),
                   ((13.0, 12.5, 14.0), (13.0, 12.5, 14.0)))


def test_spread_median_range_and_overlap():
    sp = Spread.of([3.0, 1.0, 2.0])
    assert (sp.median, sp.lo, sp.hi) == (2.0, 1.0, 3.0) and str(sp) == "2.00 s (1.00-3.00)"
    assert sp.overlaps(Spread.of([3.0, 4.0])) and not sp.overlaps(Spread.of([3.1, 4.0]))


def test_spread_verdict_names_a_winner_only_when_the_ranges_do_not_overlap():
    same = compare.spread_verdict("all done", "stream loop", Spread.of([1.02, 1.04, 1.06]),
                                  "invoke loop", Spread.of([1.03, 1.04, 1.05]))
    assert same.endswith("the ranges overlap, so this run cannot tell them apart")
    apart = compare.spread_verdict("all done", "stream loop", Spread.of([4.5, 4.95, 5.1]),
                                   "invoke loop", Spread.of([6.5, 6.74, 6.9]))
    assert apart.endswith("stream loop was sooner in every repeat (1.4× sooner by the medians)")
    for text in (same, apart):
        assert "same" not in text and "about" not in text


def test_verdicts_follow_the_data_on_a_sim_like_run():
    text = str(compare.verdicts(SIM_LIKE))
    assert "first text: stream loop 0.020 s (0.020-0.030) vs invoke loop 0.13 s" in text
    assert "all done: stream loop 1.04 s (1.02-1.06) vs invoke loop 1.04 s (1.03-1.05): the ranges overlap" in text
    assert "all done: batch 0.37 s (0.36-0.38) vs invoke loop 1.04 s (1.03-1.05): batch was sooner" in text
    assert "mean wait per answer: batch" in text and compare.CPU_NOTE not in text and compare.LOOPS_NOTE not in text


def test_verdicts_follow_the_data_on_a_local_like_run_and_say_why():
    text = str(compare.verdicts(LOCAL_LIKE))
    assert "stream loop was sooner in every repeat (1.4×" in text and compare.LOOPS_NOTE in text
    assert "all done: batch 13.00 s (12.50-14.00) vs invoke loop 6.74 s (6.50-6.90): invoke loop was sooner" in text
    assert compare.CPU_NOTE in text


def test_guesses_are_shown_beside_the_measurement():
    lines = compare.guess_vs_measured({"first text on screen": "Stream", "all answers done first": "invoke",
                                       "batch speed-up": 2}, SIM_LIKE).lines
    assert lines[0] == "first text on screen: you guessed stream; measured: stream (lowest in 3 of 3 repeats) ✓"
    assert lines[1] == "all answers done first: you guessed invoke; measured: batch (lowest in 3 of 3 repeats)"
    assert lines[2] == ("batch speed-up: you guessed 2.0×; measured 2.8× (the median of the 3 repeats' "
                        "invoke-loop time / batch time; range 2.8-2.9)")
    blank = str(compare.guess_vs_measured({"first text on screen": ____, "all answers done first": ____,
                                           "batch speed-up": ____}, LOCAL_LIKE))
    assert blank.count("(no guess)") == 3 and "✓" not in blank and "measured 0.5×" in blank
    odd = str(compare.guess_vs_measured({"first text on screen": "fast", "batch speed-up": "lots"}, SIM_LIKE))
    assert "'fast' (not one of invoke, stream, batch)" in odd and "'lots' (not a number)" in odd
    with pytest.raises(ValueError, match="must be a dict"):
        compare.guess_vs_measured("stream", SIM_LIKE)


def test_a_median_winner_whose_range_overlaps_is_not_called_clear():
    # the local run where the invoke loop had the lowest median but won 1 repeat of 3
    shaky = _fake("local", ((1.7, 1.2, 3.0), (5.62, 3.15, 2.48)), ((0.6, 0.3, 0.7), (6.44, 4.91, 2.41)),
                  ((5.1, 4.2, 2.2), (5.12, 4.20, 2.21)))
    line = compare.guess_vs_measured({"all answers done first": "invoke"}, shaky).lines[1]
    assert line == ("all answers done first: you guessed invoke; measured: invoke (lowest in 1 of 3 repeats), "
                    "but its range overlaps stream and batch's: no clear winner in this run")
    assert "cannot tell them apart" in str(compare.verdicts(shaky)).split("\n")[3]


# ---- the table ---------------------------------------------------------------------------

def test_table_quotes_the_measured_medians(cmp):
    table = mode_table(cmp)
    assert table.header == ("Mode", "User waits?", "Multiple inputs?", "Best for")
    assert [row[0] for row in table.rows] == ["invoke", "stream", "batch"]
    numbers = [compare._s(m.spread(name).median) for m in cmp.modes for name in ("first_text_s", "all_done_s")]
    numbers += [compare._s(cmp.first_ready.median), f"{cmp.batch.tokens_per_s.median:.0f} tokens/s"]
    for text in (str(table), table._repr_html_()):
        for number in numbers:
            assert number in text
        assert "medians of 3 repeats" in text
    assert table.rows[0][1].startswith("Yes") and table.rows[1][1].startswith("No")
    assert table.rows[2][2].startswith("Yes") and "<table>" in table._repr_html_()


def test_seconds_keep_small_numbers_readable():
    assert compare._s(0.0421) == "0.042 s" and compare._s(1.234) == "1.23 s"


# ---- plots -------------------------------------------------------------------------------

def test_first_vs_all_done_puts_every_mode_on_the_same_two_axes(cmp):
    fig, ax = compare.first_vs_all_done(cmp)
    assert len(ax.containers) == 3 and ax.get_xscale() == ax.get_yscale() == "linear"
    assert "first text" in ax.get_xlabel() and "all answers done" in ax.get_ylabel()
    x, y = ax.containers[2].lines[0].get_data()   # batch, at its medians
    assert (x[0], y[0]) == (cmp.batch.first_text.median, cmp.batch.all_done.median)
    assert fig.get_suptitle().endswith("?")       # a question, not a verdict
    plt.close(fig)
    fig, axes = compare.first_vs_all_done(SIM_LIKE, None, LOCAL_LIKE)
    assert len(axes) == 2 and "local" in axes[1].get_title() and "3 repeats" in axes[1].get_title()
    plt.close(fig)


def test_waits_per_mode_draws_three_bars_per_mode_with_the_medians(cmp):
    fig, ax = compare.waits_per_mode(cmp)
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 9 and ax.get_ylabel() == "seconds since the job started"
    assert heights[:3] == [cmp.invoke.first_text.median, cmp.invoke.mean_wait.median, cmp.invoke.all_done.median]
    assert heights[6:] == [cmp.batch.all_done.median] * 3
    plt.close(fig)
    fig, axes = compare.waits_per_mode(SIM_LIKE, LOCAL_LIKE)
    assert len(axes) == 2
    plt.close(fig)


# ---- the scenario -> mode exercise -------------------------------------------------------

def _answers(quiz, *ids):
    return {k: v[0] for qid in ids for k, v in quiz[qid].spec["expect"]["answers"].items()}


def test_check_mapping_plain_function(quiz):
    right = _answers(quiz, "real_world")
    res = check_mapping([quiz["real_world"]], right)
    assert res.feedback.label == "Correct" and set(res.scenarios.values()) == {""}
    res = check_mapping([quiz["real_world"]], {**right, "ChatGPT-like UI": "batch"})
    assert res.feedback.label == "Not yet" and "1 of 4" in res.feedback.message
    assert res.scenarios["ChatGPT-like UI"] == quiz["real_world"].spec["expect"]["feedback"]["ChatGPT-like UI"]
    res = check_mapping([quiz["real_world"]], {**right, "ChatGPT-like UI": ""})
    assert res.feedback.label == "Not attempted" and res.scenarios["ChatGPT-like UI"] is None


def test_widget_says_correct_for_the_right_mapping(quiz):
    widget = mapping_widget(quiz["real_world"], quiz["real_world_more"])
    right = _answers(quiz, "real_world", "real_world_more")
    assert set(widget.dropdowns) == set(right) and len(right) == 6
    for key, mode in right.items():
        widget.dropdowns[key].value = mode
    widget.check_button.click()
    assert "<b>Correct</b>" in widget.feedback.value
    assert all("Fits" in note.value for note in widget.notes.values())


def test_widget_gives_feedback_per_scenario_for_a_wrong_mapping(quiz):
    widget = mapping_widget(quiz["real_world"])
    right = _answers(quiz, "real_world")
    for key, mode in {**right, "Nightly report: one summary, one request": "batch"}.items():
        widget.dropdowns[key].value = mode
    widget.check_button.click()
    assert "Not yet" in widget.feedback.value
    why = quiz["real_world"].spec["expect"]["feedback"]["Nightly report: one summary, one request"]
    assert why[:40] in widget.notes["Nightly report: one summary, one request"].value
    assert "Fits" in widget.notes["ChatGPT-like UI"].value


def test_widget_untouched_reads_not_attempted_and_gives_hints(quiz):
    widget = mapping_widget(quiz["real_world"])
    widget.check_button.click()
    assert "Not attempted" in widget.feedback.value
    assert all(note.value == "" for note in widget.notes.values())
    widget.hint_button.click()
    assert "Hint 1 of 2" in widget.feedback.value
    widget.hint_button.click()
    widget.hint_button.click()
    assert "Hint 2 of 2" in widget.feedback.value


def test_public_names_say_which_lesson_explains_them():
    for name in ("run_modes", "plan_job", "orders", "verdicts", "spread_verdict", "guess_vs_measured",
                 "mode_table", "first_vs_all_done", "waits_per_mode", "check_mapping", "mapping_widget",
                 "JobPlan", "Spread", "JobRun", "ModeResult", "ModeComparison", "ModeTable", "Lines",
                 "MappingWidget", "MappingResult"):
        assert "lesson 04" in getattr(compare, name).__doc__, name
