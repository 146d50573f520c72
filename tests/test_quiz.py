"""Tests for helpers/quiz.py and every question in helpers/quizzes/*.yaml.

For every question: its correct answer passes, each wrong choice fails with its own
feedback, the `____` placeholder reads as not attempted, the declared hints exist,
and wrong answers never raise. Then the named checks with planted answers, the widgets
driven by their click handlers, schema validation and the progress record.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from helpers import quiz as quizmod  # noqa: E402
from helpers.quiz import ____, Feedback, QuizFormatError, lessons, load_quiz, progress_summary, show  # noqa: E402

LESSONS = ["00_start_here", "01_invoke", "02_stream", "03_batch",
           "04_latency_vs_throughput", "05_rag_and_cost"]
ALL = [(q.lesson, q.id) for lesson in lessons() for q in load_quiz(lesson)]
CHOICES = [(q.lesson, q.id) for lesson in lessons() for q in load_quiz(lesson) if q.kind == "choice"]
JUNK = [-42, 2.5, -1, 0, "zzz", "e", "", " x ", {}, [], (), {"a": 1}, [1, 2], object(), float("nan"),
        float("inf"), True, b"b", "b" * 5000, {1: (1, 2, 3)}, {"x": ("a", -1)}, 1 + 2j]


def qid(key):
    return "/".join(key)


@pytest.fixture
def question(request):
    """A freshly loaded question (its attempt count starts at 0)."""
    lesson, question_id = request.param
    return load_quiz(lesson)[question_id]


@pytest.fixture(autouse=True)
def progress_dir(tmp_path, monkeypatch):
    """Every test writes progress to its own tmp dir, never into the repo."""
    monkeypatch.setenv("COURSE_PROGRESS_DIR", str(tmp_path / "progress"))
    monkeypatch.delenv("COURSE_PROGRESS", raising=False)
    return tmp_path / "progress"


def correct_args(question) -> list:
    spec = question.spec
    if question.kind == "choice":
        return [question.letters()[[c["correct"] for c in spec["choices"]].index(True)]]
    if question.kind == "short":
        return [spec["model_answer"]]
    if question.kind == "numeric":
        return [spec["expected"]]
    return list(spec["example"])


def n_args(question) -> int:
    return len(question.spec["args"]) if question.kind == "exercise" else 1


# ---- the content -------------------------------------------------------------------------

def test_every_lesson_has_a_quiz_with_two_to_four_questions():
    assert lessons() == LESSONS
    for lesson in LESSONS:
        questions = [q for q in load_quiz(lesson) if q.kind != "exercise"]
        assert 2 <= len(questions) <= 4, lesson


def test_lessons_01_to_03_have_an_exercise():
    for lesson in LESSONS[1:4]:
        assert any(q.kind == "exercise" for q in load_quiz(lesson)), lesson


@pytest.mark.parametrize("lesson, ids", [
    ("01_invoke", ["invoke_drawback"]),
    ("02_stream", ["stream_faster"]),
    ("03_batch", ["latency_or_throughput", "over_the_wire", "three_meanings"]),
    ("04_latency_vs_throughput", ["real_world", "capstone"]),
    ("05_rag_and_cost", ["ingestion_mode", "answer_mode", "streaming_cost", "batch_api_tradeoff"]),
])
def test_questions_from_the_source_lesson_are_there(lesson, ids):
    assert set(ids) <= set(load_quiz(lesson).questions)


def test_real_world_mapping_matches_the_source_lesson():
    rule = load_quiz("04")["real_world"].spec["expect"]
    assert {k: v[0] for k, v in rule["answers"].items()} == {
        "ChatGPT-like UI": "stream", "RAG document ingestion": "batch",
        "Nightly report generation": "invoke", "Evaluating 1,000 prompts": "batch"}


# ---- every question ----------------------------------------------------------------------

@pytest.mark.parametrize("question", ALL, ids=qid, indirect=True)
def test_correct_answer_passes(question):
    feedback = question.check(*correct_args(question))
    assert feedback.outcome == "correct", str(feedback)
    assert feedback.label == "Correct"
    assert question.spec["explanation"].strip()[:40] in feedback.message


@pytest.mark.parametrize("question", CHOICES, ids=qid, indirect=True)
def test_each_wrong_choice_fails_with_its_own_feedback(question):
    choices = question.spec["choices"]
    feedbacks = [c["feedback"].strip() for c in choices if not c["correct"]]
    assert len(set(feedbacks)) == len(feedbacks), "two wrong choices share feedback"
    for letter, choice in zip(question.letters(), choices):
        if not choice["correct"]:
            feedback = question.check(letter.upper())
            assert feedback.outcome == "incorrect" and feedback.label == "Not yet"
            assert choice["feedback"].strip() in feedback.message
            assert question.check(choice["text"]).outcome == "incorrect"


@pytest.mark.parametrize("question", CHOICES, ids=qid, indirect=True)
def test_choice_accepts_its_text_or_letter_with_paren(question):
    letter = correct_args(question)[0]
    text = question.spec["choices"][question.letters().index(letter)]["text"]
    assert question.check(f" {text.upper()} ").outcome == "correct"
    assert question.check(f"{letter})").outcome == "correct"


@pytest.mark.parametrize("question", ALL, ids=qid, indirect=True)
def test_placeholder_reads_as_not_attempted(question):
    feedback = question.check(*[____] * n_args(question))
    assert feedback.outcome == "not_attempted" and feedback.label == "Not attempted"
    assert ".check(" in feedback.message
    assert question.check().outcome == "not_attempted"
    assert question.attempts == 0


def test_placeholder_shows_as_nothing():
    assert repr(____) == ""


@pytest.mark.parametrize("question", ALL, ids=qid, indirect=True)
def test_hints_step_by_step(question):
    hints = question.spec["hints"]
    assert question.hint().label == f"Hint 1 of {len(hints)}"
    for n in range(1, len(hints) + 1):
        feedback = question.hint(n)
        assert feedback.outcome == "hint" and hints[n - 1].strip() in feedback.message
        assert (f".hint({n + 1})" in feedback.message) if n < len(hints) else (".solution()" in feedback.message)
    for bad in (0, len(hints) + 1, "1", 1.0, True):
        with pytest.raises(ValueError, match=r"hint\("):
            question.hint(bad)


@pytest.mark.parametrize("question", ALL, ids=qid, indirect=True)
def test_solution_shows_answer_and_why(question):
    feedback = question.solution()
    assert feedback.label == "Solution" and feedback.outcome == "solution"
    assert question.spec["explanation"].strip()[:40] in feedback.message
    if question.kind == "choice":
        letter = correct_args(question)[0]
        assert question.spec["choices"][question.letters().index(letter)]["text"] in feedback.message


@pytest.mark.parametrize("question", ALL, ids=qid, indirect=True)
def test_wrong_answers_never_raise(question):
    for junk in JUNK:
        feedback = question.check(*[junk] * n_args(question))
        assert feedback.outcome in {"incorrect", "not_attempted"}, (junk, str(feedback))
        assert str(feedback) and feedback._repr_html_() and feedback._repr_markdown_()
    assert question.check(*[1] * (n_args(question) + 1)).outcome == "incorrect"


@pytest.mark.parametrize("question", ALL, ids=qid, indirect=True)
def test_plain_text_says_how_to_answer(question):
    text = question.text()
    assert question.spec["prompt"].strip()[:30] in text and f'quiz["{question.id}"].check(' in text


# ---- feedback rendering --------------------------------------------------------------------

@pytest.mark.parametrize("outcome, label", [("correct", "Correct"), ("incorrect", "Not yet"),
                                            ("not_attempted", "Not attempted"), ("hint", "Hint 1 of 2"),
                                            ("solution", "Solution")])
def test_feedback_label_is_a_word_in_every_repr(outcome, label):
    feedback = Feedback(outcome, label, "Use `x` and **y**.\n\n```\ncode <b>\n```")
    assert str(feedback).startswith(f"{label}: ") and repr(feedback) == str(feedback)
    assert feedback._repr_markdown_().startswith(f"**{label}**")
    html = feedback._repr_html_()
    assert f"<b>{label}</b>" in html and quizmod.COLOURS[outcome] in html
    assert "<code>x</code>" in html and "<b>y</b>" in html and "<pre>code &lt;b&gt;</pre>" in html


# ---- short answers, numbers and exercises ------------------------------------------------

CAPSTONE = load_quiz("04")["capstone"]


@pytest.mark.parametrize("answer", [
    "Streaming: customers see the first words right away instead of staring at a blank box.",
    "stream, because it reduces perceived latency",
    "STREAMING - the bot feels alive while it types",
])
def test_capstone_accepts_stream_with_a_reason(answer):
    assert CAPSTONE.check(answer).outcome == "correct"


@pytest.mark.parametrize("answer, missing", [
    ("Streaming.", "say why"),
    ("invoke, because users see the answer at once", "Name the one mode"),
    ("batch so people don't wait", "Name the one mode"),
    ("upstream caching", "Name the one mode"),
])
def test_capstone_wrong_answers_say_what_is_missing(answer, missing):
    feedback = CAPSTONE.check(answer)
    assert feedback.outcome == "incorrect" and missing in feedback.message
    assert CAPSTONE.spec["model_answer"].strip() not in feedback.message


@pytest.mark.parametrize("lesson, qid_, answer, outcome, text", [
    ("01", "retry_attempts", 2, "incorrect", "More than that"),
    ("01", "retry_attempts", 6, "incorrect", "Fewer than that"),
    ("01", "retry_attempts", "3", "correct", ""),
    ("01", "retry_attempts", 3.0, "correct", ""),
    ("01", "retry_attempts", "three", "incorrect", "Pass a number"),
    ("03", "default_concurrency", 4, "incorrect", "More than that"),
    ("03", "default_concurrency", 100, "incorrect", "Fewer than that"),
    ("04", "rate_limiter_first_call", 0, "incorrect", "More than that"),
    ("04", "rate_limiter_first_call", 0.52, "correct", ""),
    ("04", "rate_limiter_first_call", 1, "incorrect", "Less than that"),
    ("00", "first_reply_tokens", 0, "incorrect", "whole number above zero"),
    ("00", "first_reply_tokens", 12.5, "incorrect", "whole number above zero"),
    ("00", "first_reply_tokens", "many", "incorrect", "whole number above zero"),
    ("00", "first_reply_tokens", 7, "correct", ""),
])
def test_numeric_and_rule_answers(lesson, qid_, answer, outcome, text):
    feedback = load_quiz(lesson)[qid_].check(answer)
    assert feedback.outcome == outcome and text in feedback.message


def test_real_world_gives_feedback_per_scenario_without_the_answer():
    question = load_quiz("04")["real_world"]
    rule = question.spec["expect"]
    good = {"chatgpt-like ui": " Streaming ", "RAG document ingestion": "batch",
            "Nightly report generation": "INVOKE", "Evaluating 1,000 prompts": "abatch"}
    assert question.check(good).outcome == "correct"
    feedback = question.check({**good, "Nightly report generation": "batch"})
    assert feedback.outcome == "incorrect"
    assert rule["feedback"]["Nightly report generation"] in feedback.message
    assert rule["feedback"]["ChatGPT-like UI"] not in feedback.message
    missing = dict(list(good.items())[:3])
    assert "add it to your dict" in question.check(missing).message
    assert question.check({**good, "RAG document ingestion": ____}).outcome == "not_attempted"
    assert "Pass a dict" in question.check("stream").message
    for key, message in rule["feedback"].items():
        assert not any(mode in message.lower() for mode in ("stream", "batch", "invoke")), key


SLOWEST = load_quiz("01")["slowest_prompt"]
TIMINGS = {"word": 0.5, "paragraph": 1.5, "page": 4.0}


@pytest.mark.parametrize("name, timings, outcome, text", [
    ("page", TIMINGS, "correct", ""),
    ("word", {"word": 9.0, "paragraph": 1.5, "page": 4.0}, "correct", ""),
    ("paragraph", TIMINGS, "incorrect", "another took longer"),
    ("essay", TIMINGS, "incorrect", "isn't a key"),
    ("page", {"word": 0.5, "page": 4.0}, "incorrect", "three prompts"),
    ("page", {"word": -0.5, "paragraph": 1.5, "page": 4.0}, "incorrect", "positive number"),
    ("page", {"word": "fast", "paragraph": 1.5, "page": 4.0}, "incorrect", "positive number"),
    ("page", {"word": "0.5", "paragraph": 1.5, "page": "4"}, "correct", ""),
    ("page", [0.5, 1.5, 4.0], "incorrect", "dict"),
])
def test_slowest_prompt_uses_the_learners_own_timings(name, timings, outcome, text):
    feedback = SLOWEST.check(name, timings)
    assert feedback.outcome == outcome and text in feedback.message


TTFT = load_quiz("02")["ttft_vs_total"]


@pytest.mark.parametrize("ttft, total, outcome, text", [
    (0.3, 2.0, "correct", ""),
    (2.0, 0.3, "incorrect", "swap"),
    (1.0, 1.0, "incorrect", "one chunk"),
    (-0.1, 2.0, "incorrect", "positive"),
    (None, 2.0, "not_attempted", ""),
    ("0.3", "2", "correct", ""),                          # numbers typed as text are read
    ("fast", 2.0, "incorrect", "positive"),
])
def test_ttft_before_total(ttft, total, outcome, text):
    feedback = TTFT.check(ttft, total)
    assert feedback.outcome == outcome and text in feedback.message


CONCURRENCY = load_quiz("03")["best_concurrency"]
SWEEP = {1: (8.1, 0), 2: (4.2, 0), 4: (2.3, 0), 8: (1.6, 3), 16: (1.2, 9)}


@pytest.mark.parametrize("chosen, sweep, outcome, text", [
    (4, SWEEP, "correct", ""),
    (4, {**SWEEP, 3: (2.25, 0)}, "correct", ""),           # within 5% of the fastest clean one
    (2, SWEEP, "incorrect", "finished clearly faster"),
    (16, SWEEP, "incorrect", "429"),
    (5, SWEEP, "incorrect", "isn't a setting you measured"),
    (8, {8: (1.6, 3), 16: (1.2, 9)}, "incorrect", "Every setting"),
    (4, {4: (2.3, -1)}, "incorrect", "(makespan_s, n_429)"),
    (4, {4: 2.3}, "incorrect", "(makespan_s, n_429)"),
    (4, [(2.3, 0)], "incorrect", "Pass your sweep"),
    (4, {2: ("4.2", 0), 4: ("2.3", 0)}, "correct", ""),
])
def test_best_concurrency_judges_the_learners_sweep(chosen, sweep, outcome, text):
    feedback = CONCURRENCY.check(chosen, sweep)
    assert feedback.outcome == outcome and text in feedback.message


# ---- bad arguments ------------------------------------------------------------------------

def test_load_by_name_or_number():
    assert load_quiz("02").lesson == load_quiz("02_stream").lesson == "02_stream"


@pytest.mark.parametrize("lesson", ["99", "stream", "2", "", "02_stream.yaml"])
def test_unknown_lesson_names_the_valid_ones(lesson):
    with pytest.raises(ValueError, match="02_stream, 03_batch"):
        load_quiz(lesson)


def test_unknown_question_names_the_valid_ones():
    quiz = load_quiz("02")
    for ask in (lambda: quiz["nope"], lambda: quiz.q("nope"), lambda: quiz.show("nope")):
        with pytest.raises(ValueError, match="stream_faster, slow_first_token"):
            ask()


# ---- schema validation at load ----------------------------------------------------------------

GOOD_CHOICE = """
  - id: bad_q
    kind: choice
    prompt: Which?
    explanation: Because.
    hints: [Think.]
    choices:
      - {text: Alpha, correct: true}
      - {text: Beta, correct: false, feedback: Not that.}
"""


@pytest.mark.parametrize("body, problem", [
    (GOOD_CHOICE.replace(", feedback: Not that.", ""), "`choices`"),
    (GOOD_CHOICE.replace("correct: false", "correct: true"), "`choices`"),
    (GOOD_CHOICE.replace("kind: choice", "kind: essay"), "`kind` must be one of"),
    (GOOD_CHOICE.replace("hints: [Think.]", "hints: []"), "`hints`"),
    (GOOD_CHOICE.replace("    explanation: Because.\n", ""), "`explanation`"),
    (GOOD_CHOICE + GOOD_CHOICE, "used twice"),
    ("\n  - {id: bad_q, kind: numeric, prompt: p, explanation: e, hints: [h], expected: 3,"
     " feedback: {low: l, high: h}}", "`tolerance`"),
    ("\n  - {id: bad_q, kind: exercise, prompt: p, explanation: e, hints: [h], args: [x],"
     " example: [1], solution: s, check: no_such_check}", "`check` must be one of"),
    ("\n  - {id: bad_q, kind: exercise, prompt: p, explanation: e, hints: [h], args: [x, y],"
     " example: [1, 2], solution: s, expect: {type: equals, value: 1, wrong: w}}", "checks one arg"),
    ("\n  - {id: bad_q, kind: short, prompt: p, explanation: e, hints: [h], model_answer: m,"
     " rubric: [{any: [x]}]}", "`rubric`"),
])
def test_malformed_question_gives_error_naming_file_and_id(tmp_path, body, problem):
    (tmp_path / "99_bad.yaml").write_text("questions:" + body)
    with pytest.raises(QuizFormatError) as info:
        load_quiz("99_bad", quiz_dir=tmp_path)
    assert "99_bad.yaml" in str(info.value) and "'bad_q'" in str(info.value)
    assert problem in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("text, problem", [("questions: [", "not valid YAML"),
                                           ("title: no questions", "`questions:`"),
                                           ("questions:\n  - just text", "'#1'")])
def test_malformed_file_gives_error_naming_file(tmp_path, text, problem):
    (tmp_path / "99_bad.yaml").write_text(text)
    with pytest.raises(QuizFormatError, match="99_bad.yaml") as info:
        load_quiz("99", quiz_dir=tmp_path)
    assert problem in str(info.value)


def test_a_valid_file_in_another_dir_loads(tmp_path):
    (tmp_path / "99_ok.yaml").write_text("questions:" + GOOD_CHOICE)
    assert load_quiz("99", quiz_dir=tmp_path)["bad_q"].check("a").outcome == "correct"


# ---- widgets, driven by their click handlers ---------------------------------------------------

def parts(box):
    """prompt, entry, buttons by description, feedback widget."""
    prompt, entry, row, feedback = box.children
    return prompt, entry, {b.description: b for b in row.children}, feedback


@pytest.mark.parametrize("question", CHOICES, ids=qid, indirect=True)
def test_choice_widget_check_and_hint(question):
    _, entry, buttons, feedback = parts(question.widget())
    buttons["Check"].click()
    assert "Not attempted" in feedback.value
    wrong = next(l for l, c in zip(question.letters(), question.spec["choices"]) if not c["correct"])
    entry.value = wrong
    buttons["Check"].click()
    assert "Not yet" in feedback.value
    entry.value = correct_args(question)[0]
    buttons["Check"].click()
    assert "<b>Correct</b>" in feedback.value
    buttons["Hint"].click()
    assert "Hint 1 of" in feedback.value


def test_short_widget_model_answer_enabled_only_after_an_attempt():
    question = load_quiz("04")["capstone"]
    _, entry, buttons, feedback = parts(question.widget())
    model = buttons["Show model answer"]
    assert model.disabled
    buttons["Check"].click()                       # empty box: not an attempt
    assert "Not attempted" in feedback.value and model.disabled
    entry.value = "invoke"
    buttons["Check"].click()
    assert "Not yet" in feedback.value and not model.disabled
    model.click()
    assert "Solution" in feedback.value and "Model answer" in feedback.value
    entry.value = question.spec["model_answer"]
    buttons["Check"].click()
    assert "<b>Correct</b>" in feedback.value


def test_numeric_widget_reads_text():
    _, entry, buttons, feedback = parts(load_quiz("01")["retry_attempts"].widget())
    entry.value = "3"
    buttons["Check"].click()
    assert "<b>Correct</b>" in feedback.value
    entry.value = "lots"
    buttons["Check"].click()
    assert "Not yet" in feedback.value


def test_exercise_widget_has_hints_but_no_check_button():
    _, _, buttons, feedback = parts(load_quiz("03")["best_concurrency"].widget())
    assert list(buttons) == ["Hint"]
    buttons["Hint"].click()
    buttons["Hint"].click()
    buttons["Hint"].click()                        # stays on the last hint
    assert "Hint 2 of 2" in feedback.value


def test_show_prints_plain_text_outside_jupyter(capsys):
    show(load_quiz("02")["stream_faster"])
    assert 'quiz["stream_faster"].check("a")' in capsys.readouterr().out


def test_show_displays_the_widget_in_a_kernel(monkeypatch):
    import IPython
    import IPython.display
    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: type("Shell", (), {"kernel": object()})())
    monkeypatch.setattr(IPython.display, "display", shown.append)
    load_quiz("02").show("stream_faster")
    assert type(shown[0]).__name__ == "VBox"


# ---- progress record -------------------------------------------------------------------------

def test_progress_keeps_the_best_outcome(progress_dir):
    question = load_quiz("02")["stream_faster"]
    question.check(____)
    assert not (progress_dir / "progress.json").exists()       # not attempted: nothing to record
    question.check("a")
    question.check("b")
    question.check("a")
    data = json.loads((progress_dir / "progress.json").read_text())
    assert data["02_stream/stream_faster"] == {"best": "correct", "checks": 3}
    summary = progress_summary()
    assert summary["02_stream"]["questions"]["stream_faster"] == "correct"
    assert summary["02_stream"]["correct"] == 1 and summary["02_stream"]["total"] == 4
    assert summary["01_invoke"]["tried"] == 0


def test_progress_can_be_switched_off(progress_dir, monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS", "off")
    load_quiz("02")["stream_faster"].check("b")
    assert not progress_dir.exists()
    assert progress_summary()["02_stream"]["correct"] == 0


def test_progress_write_failure_never_fails_a_check(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("COURSE_PROGRESS_DIR", str(blocker / "sub"))
    assert load_quiz("02")["stream_faster"].check("b").outcome == "correct"


def test_corrupt_progress_file_is_replaced(progress_dir):
    progress_dir.mkdir(parents=True)
    (progress_dir / "progress.json").write_text("{not json")
    assert progress_summary()["02_stream"]["tried"] == 0
    load_quiz("02")["stream_faster"].check("a")
    assert progress_summary()["02_stream"]["questions"]["stream_faster"] == "incorrect"


def test_default_progress_file_is_in_the_git_ignored_folder(monkeypatch):
    monkeypatch.delenv("COURSE_PROGRESS_DIR")
    assert quizmod._progress_path() == ROOT / ".course_progress" / "progress.json"
    assert ".course_progress/" in (ROOT / ".gitignore").read_text()


# ---- docstrings for learners -------------------------------------------------------------------

def test_public_helpers_have_docstrings_naming_their_lesson():
    for name in quizmod.__all__:
        if name != "____":
            doc = getattr(quizmod, name).__doc__ or ""
            assert "lesson" in doc.lower(), name
    for name in ("check", "hint", "solution", "widget", "text"):
        assert getattr(quizmod.Question, name).__doc__, name
