"""Tests for helpers/compare.py (lesson 04): the three modes measured on the real
simulator over loopback HTTP, the table built from them, the plots and the
scenario -> mode widget."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from helpers import chat_model, compare, load_quiz  # noqa: E402
from helpers.compare import ModeComparison, ModeResult, check_mapping, mapping_widget, mode_table  # noqa: E402

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
    result = compare.run_modes(llm, PROMPTS, max_concurrency=4, label="sim", report=lines.append)
    assert [line.split(":")[0] for line in lines] == ["invoke", "stream", "batch"]
    return result


@pytest.fixture
def quiz():
    return load_quiz("04")


# ---- measuring -----------------------------------------------------------------------------

def test_stream_shows_text_before_invoke(cmp):
    assert 0 < cmp.stream.perceived_latency_s < cmp.invoke.perceived_latency_s
    assert cmp.first_text_winner == "stream"


def test_batch_finishes_all_prompts_before_invoke(cmp):
    assert cmp.batch.wall_s < cmp.invoke.wall_s
    assert cmp.batch.tokens_per_s > cmp.invoke.tokens_per_s
    assert cmp.throughput_winner == "batch"


def test_batch_caller_waits_for_the_whole_list(cmp):
    assert cmp.batch.perceived_latency_s == cmp.batch.wall_s
    assert 0 < cmp.first_ready_s <= cmp.batch.wall_s
    assert cmp.batch.perceived_latency_s > cmp.invoke.perceived_latency_s


def test_every_mode_is_complete_and_positive(cmp):
    assert cmp.prompts == tuple(PROMPTS) and cmp.max_concurrency == 4 and cmp.label == "sim"
    assert [m.mode for m in cmp.modes] == ["invoke", "stream", "batch"]
    for m in cmp.modes:
        assert m.n_requests == len(PROMPTS) and m.n_errors == 0
        assert m.completion_tokens > 0 and m.tokens_per_s > 0 and m.requests_per_s > 0
        assert 0 < m.perceived_latency_s <= m.wall_s and 0 < m.mean_request_s <= m.wall_s
    assert cmp.sample_answer.strip()


def test_one_by_one_modes_take_about_as_long_per_answer(cmp):
    assert cmp.stream.mean_request_s == pytest.approx(cmp.invoke.mean_request_s, rel=0.5)
    assert cmp.stream.completion_tokens == cmp.invoke.completion_tokens


@pytest.mark.parametrize("prompts, max_concurrency, text", [
    ([], 4, "non-empty list"), ("one prompt", 4, "non-empty list"), (["ok", " "], 4, "non-empty string"),
    (["ok"], 0, "max_concurrency"), (["ok"], True, "max_concurrency"), (["ok"], None, "max_concurrency"),
])
def test_bad_arguments_say_what_to_pass(llm, prompts, max_concurrency, text):
    with pytest.raises(ValueError, match=text):
        compare.run_modes(llm, prompts, max_concurrency)


# ---- the table ---------------------------------------------------------------------------

def test_table_quotes_the_measured_numbers(cmp):
    table = mode_table(cmp)
    assert table.header == ("Mode", "User waits?", "Multiple inputs?", "Best for")
    assert [row[0] for row in table.rows] == ["invoke", "stream", "batch"]
    numbers = [compare._s(cmp.invoke.perceived_latency_s), compare._s(cmp.stream.perceived_latency_s),
               compare._s(cmp.batch.perceived_latency_s), compare._s(cmp.invoke.wall_s),
               compare._s(cmp.batch.wall_s), compare._s(cmp.first_ready_s),
               f"{cmp.batch.tokens_per_s:.0f} tokens/s"]
    for text in (str(table), table._repr_html_()):
        for number in numbers:
            assert number in text
    assert table.rows[0][1].startswith("Yes") and table.rows[1][1].startswith("No")
    assert table.rows[2][2].startswith("Yes") and "<table>" in table._repr_html_()


def test_seconds_keep_small_numbers_readable():
    assert compare._s(0.0421) == "0.042 s" and compare._s(1.234) == "1.23 s"


# ---- plots -------------------------------------------------------------------------------

def _fake(label: str, scale: float) -> ModeComparison:
    """Made-up numbers like a 2-core CPU's: batch finishes last there."""
    def mode(name, first, wall):
        return ModeResult(name, first * scale, wall * scale, 0.8 * scale, 120, 4)
    return ModeComparison(label, 4, ("a", "b", "c", "d"), mode("invoke", 0.9, 3.6),
                          mode("stream", 0.3, 3.5), mode("batch", 4.0, 4.0), 3.8 * scale, "text")


def test_scatter_returns_fig_and_ax_with_one_marker_per_mode(cmp):
    fig, ax = compare.latency_vs_throughput(cmp, None, _fake("local", 10))
    assert len(ax.collections) == 6
    assert "tokens/s" in ax.get_ylabel() and "(s)" in ax.get_xlabel()
    assert "stream shows text first" in ax.get_title()
    plt.close(fig)


def test_bars_return_fig_and_ax(cmp):
    fig, ax = compare.first_text_vs_total(cmp)
    assert ax.get_ylabel() == "seconds" and len(ax.patches) == 6
    assert "stream shows text soonest; batch" in fig.get_suptitle()
    plt.close(fig)
    fig, axes = compare.first_text_vs_total(cmp, _fake("local", 1))
    assert len(axes) == 2 and "depends on the backend" in fig.get_suptitle()
    plt.close(fig)
    fig, ax = compare.first_text_vs_total(_fake("local", 1))
    assert fig.get_suptitle() == "stream shows text soonest and gets all the prompts done soonest"
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
    for key, mode in {**right, "Nightly report generation": "batch"}.items():
        widget.dropdowns[key].value = mode
    widget.check_button.click()
    assert "Not yet" in widget.feedback.value
    why = quiz["real_world"].spec["expect"]["feedback"]["Nightly report generation"]
    assert why[:40] in widget.notes["Nightly report generation"].value
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
    for name in ("run_modes", "mode_table", "latency_vs_throughput", "first_text_vs_total",
                 "check_mapping", "mapping_widget", "ModeResult", "ModeComparison", "ModeTable",
                 "MappingWidget", "MappingResult"):
        assert "lesson 04" in getattr(compare, name).__doc__, name
