"""Tests for the helpers/quiz package and every question in helpers/quiz/banks/*.yaml.

For every question: its correct answer passes, each wrong choice fails with its own
feedback, the `____` placeholder reads as not attempted, the declared hints exist,
and wrong answers never raise. Then the classic mistakes, planted: each must come back
"Not yet" with the message that names it (free text is never "Correct"). The checks that
judge a run get a run: a reply, measurements, chunk stamps, and once a real simulator stream.
Then the widgets driven by their click handlers, schema validation and the progress record.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from langchain_core.messages import AIMessage  # noqa: E402

from helpers import quiz as quizmod  # noqa: E402
from helpers.lessons.cost import Price, monthly_cost  # noqa: E402
from helpers.quiz import Feedback, QuizFormatError, ____, lessons, load_quiz, progress_summary, show  # noqa: E402
from helpers.quiz import progress as progressmod  # noqa: E402
from helpers.quiz.schema import KINDS  # noqa: E402
from helpers.timing import BatchResult, InvokeResult, RequestTiming  # noqa: E402

LESSONS = ["00_start_here", "01_invoke", "02_stream", "03_batch",
           "04_latency_vs_throughput", "04b_capacity_lab", "05_rag_and_cost", "06_ship_the_chatbot"]
ALL = [(q.lesson, q.id) for lesson in lessons() for q in load_quiz(lesson)]
CHOICES = [(q.lesson, q.id) for lesson in lessons() for q in load_quiz(lesson) if q.kind in ("choice", "multi")]
GRADED = [(q.lesson, q.id) for lesson in lessons() for q in load_quiz(lesson) if q.kind != "self_check"]
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


# ---- runs for the checks that judge a run ------------------------------------------------

REPLY = AIMessage("Hello there, how are you today?",
                  usage_metadata={"input_tokens": 12, "output_tokens": 9, "total_tokens": 21})


def invoke_result(prompt: str, total_s: float, tokens: int) -> InvokeResult:
    return InvokeResult(prompt=prompt, text="x " * tokens, total_s=total_s, prompt_tokens=8,
                        completion_tokens=tokens)


PROMPTS = {"sentence": "Explain caching in one sentence.", "default": "Explain caching.",
           "detail": "Explain caching in detail."}
RESULTS = {"sentence": invoke_result(PROMPTS["sentence"], 0.48, 31),
           "default": invoke_result(PROMPTS["default"], 0.93, 73),
           "detail": invoke_result(PROMPTS["detail"], 2.41, 221)}

# One stream, as the lesson-02 loop records it: the role-only chunk, 40 chunks with text
# 12 ms apart, then the finish and usage chunks with no text. Seconds since t0.
ROLE_S, FIRST_TEXT_S = 0.3121, 0.31247
STAMPS = ([(ROLE_S, "")] + [(FIRST_TEXT_S + 0.012 * i, f"w{i} ") for i in range(40)]
          + [(FIRST_TEXT_S + 0.012 * 39 + 0.0004, ""), (FIRST_TEXT_S + 0.012 * 39 + 0.0009, "")])
LAST_TEXT_S, END_S = STAMPS[40][0], STAMPS[-1][0]
AFTER = 3e-6           # the learner's own perf_counter() runs a few microseconds after the append
RIGHT_TTFT, RIGHT_TOTAL = FIRST_TEXT_S + AFTER, END_S + 0.0004


def correct_args(question) -> list:
    spec = question.spec
    if question.kind == "choice":
        return [question.letters()[[c["correct"] for c in spec["choices"]].index(True)]]
    if question.kind == "multi":
        return [[letter for letter, c in zip(question.letters(), spec["choices"]) if c["correct"]]]
    if question.kind == "self_check":
        return [spec["model_answer"]]
    if question.kind == "numeric":
        return [spec["expected"]]
    runs = {"reply_output_tokens": [9, REPLY], "slowest_prompt": ["detail", RESULTS],
            "ttft_before_total": [RIGHT_TTFT, RIGHT_TOTAL, STAMPS], "best_concurrency": [4, RUNS]}
    return runs.get(spec.get("check"), spec.get("example"))


def n_args(question) -> int:
    return len(question.spec["args"]) if question.kind == "exercise" else 1


# ---- the content -------------------------------------------------------------------------

def test_every_lesson_has_a_quiz_with_two_to_four_questions():
    assert lessons() == LESSONS
    for lesson in LESSONS:
        questions = [q for q in load_quiz(lesson) if q.kind != "exercise" and not q.id.startswith("capstone")]
        assert 2 <= len(questions) <= 4, lesson


def test_no_free_text_is_graded_anywhere():
    """Every free-text question is a self_check; the keyword-graded kind is gone."""
    kinds = {q.kind for lesson in lessons() for q in load_quiz(lesson)}
    assert kinds <= {"choice", "multi", "numeric", "exercise", "self_check"}
    assert "short" not in KINDS


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
        "Nightly report: one summary, one request": "invoke", "Evaluating 1,000 prompts": "batch"}


# ---- every question ----------------------------------------------------------------------

@pytest.mark.parametrize("question", GRADED, ids=qid, indirect=True)
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
    right = correct_args(question)[0]
    for letter, choice in zip(question.letters(), choices):
        if not choice["correct"]:
            answer = letter.upper() if question.kind == "choice" else [*right, letter.upper()]
            feedback = question.check(answer)
            assert feedback.outcome == "incorrect" and feedback.label == "Not yet"
            assert choice["feedback"].strip() in feedback.message
            text = choice["text"] if question.kind == "choice" else [choice["text"]]
            assert question.check(text).outcome == "incorrect"


@pytest.mark.parametrize("question", [k for k in CHOICES if load_quiz(k[0])[k[1]].kind == "choice"],
                         ids=qid, indirect=True)
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


def test_placeholder_prints_as_a_blank(capsys):
    """A guess left blank prints as a blank, alone, in a dict or formatted; as a cell's
    value it displays nothing."""
    guess = {"shows text first": ____, "most tokens per second": ____}
    print(guess, ____, f"{____:.2f} s")
    assert capsys.readouterr().out == "{'shows text first': ____, 'most tokens per second': ____} ____ ____ s\n"
    assert ____._ipython_display_() is None


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
    allowed = {"incorrect", "not_attempted"} | ({"self_assessed"} if question.kind == "self_check" else set())
    for junk in JUNK:
        feedback = question.check(*[junk] * n_args(question))
        assert feedback.outcome in allowed, (junk, str(feedback))
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


# ---- the capstone, numbers and exercises ------------------------------------------------

QUIZ04 = load_quiz("04")


def letter_of(question, words: str) -> str:
    """The letter of the choice whose text contains `words`."""
    return next(x for x, c in zip(question.letters(), question.spec["choices"]) if words in c["text"])


# The capstone in three parts: (a) the mode and (b) the reasons are graded, (c) never is.
@pytest.mark.parametrize("sentence, mode, reasons", [
    ("Batch, not stream: batch lets every customer see answers sooner.", "batch", ["one `batch()`"]),
    ("invoke is non-negotiable; streaming is a nice-to-have.", "invoke", []),
    ("Stream, because the model writes faster when it streams.", "stream", ["writes tokens faster"]),
    ("Stream: streamed tokens are cheaper.", "stream", ["billed at a lower rate"]),
    ("Stream, it shows words before the model reads the question.", "stream", ["hides the whole wait"]),
])
def test_capstone_planted_answers_are_never_correct(sentence, mode, reasons):
    part_a, part_b, part_c = QUIZ04["capstone"], QUIZ04["capstone_why"], QUIZ04["capstone_own_words"]
    a = part_a.check(mode)
    if mode != "stream":
        assert a.outcome == "incorrect" and a.label == "Not yet"
        wrong = next(c for c in part_a.spec["choices"] if c["text"] == mode)
        assert wrong["feedback"].strip() in a.message
    right = correct_args(part_b)[0]
    for words in reasons:   # a wrong reason fails even beside both right ones, with its own message
        b = part_b.check([*right, letter_of(part_b, words)])
        assert b.outcome == "incorrect"
        feedback = next(c["feedback"] for c in part_b.spec["choices"] if words in c["text"])
        assert feedback.strip() in b.message
    c = part_c.check(sentence)   # the learner's own words: shown, never graded
    assert c.outcome == "self_assessed" and c.label.startswith("Self-assessment")
    assert "Correct" not in str(c) and "Not yet" not in str(c)
    assert sentence in c.message and part_c.spec["model_answer"].strip() in c.message


@pytest.mark.parametrize("words", ["batch, not stream", "not stream but batch", "stream? no: batch",
                                   "invoke, then stream", "streaming is a nice-to-have"])
def test_capstone_right_words_in_the_wrong_order_are_never_correct(words):
    """Free text given to the graded part is not read for keywords: only a choice counts."""
    assert QUIZ04["capstone"].check(words).outcome == "incorrect"
    assert QUIZ04["capstone_why"].check(words).outcome == "incorrect"
    assert QUIZ04["capstone_own_words"].check(words).outcome == "self_assessed"


def test_capstone_own_words_never_says_correct_even_for_the_model_answer():
    part_c = QUIZ04["capstone_own_words"]
    feedback = part_c.check(part_c.spec["model_answer"])
    assert feedback.outcome == "self_assessed" and "Correct" not in str(feedback)
    assert all(point.strip() in feedback.message for point in part_c.spec["compare"])
    assert "<b>Self-assessment (not graded)</b>" in feedback._repr_html_()
    assert part_c.check("   ").outcome == "not_attempted"
    assert part_c.check(42).outcome == "incorrect"


@pytest.mark.parametrize("answer, outcome, text", [
    (["b", "e"], "correct", ""),
    ("b, e", "correct", ""),
    ("E B", "correct", ""),
    (["b"], "incorrect", "One more choice holds"),
    (["e"], "incorrect", "One more choice holds"),
    (["a", "b", "c", "d", "e", "f"], "incorrect", "Streaming doesn't make the model faster"),
    (["b", "c", "e"], "incorrect", "Batching raises throughput"),
    (["z"], "incorrect", "Pass letters"),
    ([], "incorrect", "Pass the letters"),
])
def test_capstone_reasons_multi_select(answer, outcome, text):
    feedback = QUIZ04["capstone_why"].check(answer)
    assert feedback.outcome == outcome and text in feedback.message


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
])
def test_numeric_answers(lesson, qid_, answer, outcome, text):
    feedback = load_quiz(lesson)[qid_].check(answer)
    assert feedback.outcome == outcome and text in feedback.message


# ---- lesson 04: the server's tok/s is not one user's speed --------------------------------

SPEED = load_quiz("04")["server_vs_user_speed"]


def test_server_vs_user_speed_right_answer_is_the_arithmetic():
    right = next(c["text"] for c in SPEED.spec["choices"] if c["correct"])
    assert f"About {round(1 / 0.108)} tokens/s (1 / 0.108 s)" in right          # 9.26 tokens/s per user
    assert f"some {round(529 * 0.108)} answers" in SPEED.spec["explanation"]      # 529 / 9.26 in flight


@pytest.mark.parametrize("answer, text", [
    ("About 529 tokens/s: that is how fast this server writes", "added up over the run"),   # aggregate = one user
    ("A first token after 108 ms, then the rest at 529 tokens/s", "that is TTFT"),          # TPOT read as TTFT
    ("About 108 tokens/s, the TPOT line", "not a rate"),                                     # ms read as tok/s
    ("E", "Which line of the report is the server's total"),                                 # per-user = server
])
def test_server_vs_user_speed_each_misreading_gets_its_own_fix(answer, text):
    feedback = SPEED.check(answer)
    assert feedback.outcome == "incorrect" and text in feedback.message
    assert "About 9 tokens/s (1" not in feedback.message


# ---- lesson 00: the tokens the reply reports ------------------------------------------------

TOKENS = load_quiz("00")["first_reply_tokens"]


@pytest.mark.parametrize("answer, reply, outcome, text", [
    (9, REPLY, "correct", ""),
    ("9", REPLY, "correct", ""),
    (5, REPLY, "incorrect", "words you asked for"),                       # the instruction, not the count
    (len(REPLY.content.split()), REPLY, "incorrect", "number of **words**"),   # 6 words, not 9 tokens
    (len(REPLY.content), REPLY, "incorrect", "**characters**"),
    (12, REPLY, "incorrect", "`input_tokens`"),
    (21, REPLY, "incorrect", "`total_tokens`"),
    (7, REPLY, "incorrect", "not the count in this reply"),               # an invented number
    (0, REPLY, "incorrect", "not the count"),
    (12.5, REPLY, "incorrect", "whole number"),
    ("many", REPLY, "incorrect", "whole number"),
    (9, "Hello there", "incorrect", "Pass the reply too"),
    (9, None, "incorrect", "Pass the reply too"),
    (3, AIMessage("Hi"), "correct", ""),                               # a backend without usage: any count > 0
    (0, AIMessage("Hi"), "incorrect", "above zero"),
])
def test_first_reply_tokens_reads_the_real_usage(answer, reply, outcome, text):
    feedback = TOKENS.check(answer, reply)
    assert feedback.outcome == outcome and text in feedback.message, str(feedback)


def test_first_reply_tokens_placeholder_and_one_argument():
    assert TOKENS.check(____, REPLY).outcome == "not_attempted"
    assert "2 value(s)" in TOKENS.check(9).message


# ---- lesson 01: the slowest prompt, from this run's measurements ---------------------------

SLOWEST = load_quiz("01")["slowest_prompt"]


@pytest.mark.parametrize("name, results, outcome, text", [
    ("detail", RESULTS, "correct", ""),
    ("default", {**RESULTS, "default": invoke_result(PROMPTS["default"], 2.40, 200)}, "correct", ""),  # a tie
    ("sentence", RESULTS, "incorrect", "longest *prompt*"),        # judged by the prompt's length
    ("default", {**RESULTS, "sentence": invoke_result(PROMPTS["sentence"], 0.95, 40)}, "incorrect", "**fastest**"),
    ("default", RESULTS, "incorrect", "another prompt took longer"),
    ("essay", RESULTS, "incorrect", "isn't a key"),
    ("detail", {"sentence": 0.7, "default": 1.2, "detail": 3.1}, "incorrect", "typed-in timings"),   # invented
    ("page", {"word": 0.5, "paragraph": 1.5, "page": 4.0}, "incorrect", "not a measurement"),       # any dict
    ("detail", {k: r.total_s for k, r in RESULTS.items()}, "incorrect", "not a measurement"),
    ("detail", {"detail": RESULTS["detail"], "sentence": RESULTS["sentence"]}, "incorrect", "three prompts"),
    ("detail", {**RESULTS, "default": RESULTS["detail"]}, "incorrect", "same prompt"),
    ("detail", list(RESULTS.values()), "incorrect", "dict"),
])
def test_slowest_prompt_judges_this_runs_measurements(name, results, outcome, text):
    feedback = SLOWEST.check(name, results)
    assert feedback.outcome == outcome and text in feedback.message, str(feedback)


# ---- lesson 02: TTFT and total, compared with the stream's own chunk stamps -----------------

TTFT = load_quiz("02")["ttft_vs_total"]


@pytest.mark.parametrize("ttft, total, outcome, text", [
    (RIGHT_TTFT, RIGHT_TOTAL, "correct", ""),
    (FIRST_TEXT_S - AFTER, RIGHT_TOTAL, "correct", ""),             # stamped just before the append
    (FIRST_TEXT_S, END_S, "correct", ""),                            # read off the stamps list
    (ROLE_S + AFTER, RIGHT_TOTAL, "incorrect", "**no text**"),       # the role-only first chunk
    (LAST_TEXT_S + AFTER, RIGHT_TOTAL, "incorrect", "overwritten on every chunk"),   # `if chunk.content:` only
    (END_S + AFTER, RIGHT_TOTAL, "incorrect", "overwritten on every chunk"),         # no condition at all
    (STAMPS[6][0] + AFTER, RIGHT_TOTAL, "incorrect", "a later chunk"),
    (0.3, 3.0, "incorrect", "typed in"),                              # invented numbers
    (0.45, 3.2, "incorrect", "typed in"),
    (RIGHT_TTFT, 1.5, "incorrect", "typed in"),
    (RIGHT_TOTAL, RIGHT_TTFT, "incorrect", "swap"),
    (RIGHT_TTFT, STAMPS[10][0] + AFTER, "incorrect", "earlier than the stream's last chunk"),
    (RIGHT_TTFT, END_S + 2.0004, "incorrect", "long after"),
    (ROLE_S - 0.0613, RIGHT_TOTAL, "incorrect", "doesn't match"),          # before any chunk arrived
    (END_S + 0.4321, END_S + 0.4323, "incorrect", "doesn't match"),       # long after the last one
    (FIRST_TEXT_S + 0.0119, RIGHT_TOTAL, "correct", ""),                   # a busy CPU: stamped late
    (-0.1, RIGHT_TOTAL, "incorrect", "positive"),
    ("fast", RIGHT_TOTAL, "incorrect", "positive"),
    (None, RIGHT_TOTAL, "incorrect", "still None"),
    (str(RIGHT_TTFT), str(RIGHT_TOTAL), "correct", ""),              # numbers typed as text are read
])
def test_ttft_vs_total_against_the_stamps(ttft, total, outcome, text):
    feedback = TTFT.check(ttft, total, STAMPS)
    assert feedback.outcome == outcome and text in feedback.message, str(feedback)


def test_ttft_vs_total_catches_a_forgotten_t0():
    """`total_s = time.perf_counter()` (no `- t0`) is a clock reading, e.g. 4631 s."""
    feedback = TTFT.check(RIGHT_TTFT, time.perf_counter(), STAMPS)
    assert feedback.outcome == "incorrect" and "Subtract `t0`" in feedback.message and "total_s" in feedback.message
    feedback = TTFT.check(time.perf_counter(), time.perf_counter(), STAMPS)
    assert "Subtract `t0`" in feedback.message


@pytest.mark.parametrize("stamps", [None, [], [(0.1, "")], [(0.2, "a"), (0.1, "b")], "stamps", [0.1, 0.2]])
def test_ttft_vs_total_needs_the_stamps(stamps):
    feedback = TTFT.check(RIGHT_TTFT, RIGHT_TOTAL, stamps)
    assert feedback.outcome == "incorrect" and "Pass `stamps`" in feedback.message
    assert TTFT.check(____, ____, []).outcome == "not_attempted"


def test_ttft_vs_total_on_a_real_simulator_stream(sim):
    """The lesson's loop on real HTTP: the solution passes; stamping the role-only chunk,
    overwriting on every chunk and forgetting `- t0` each get their own Not yet."""
    from helpers import chat_model

    llm = chat_model(server=sim, timeout=30, max_tokens=60)
    t0 = time.perf_counter()
    stamps, right, role, every = [], None, None, None
    for chunk in llm.stream("Explain rain in one paragraph."):
        stamps.append((time.perf_counter() - t0, chunk.content))
        if role is None:
            role = time.perf_counter() - t0                 # the very first chunk
        if chunk.content and right is None:
            right = time.perf_counter() - t0                # the first chunk with text
        every = time.perf_counter() - t0                    # overwritten on every chunk
    total = time.perf_counter() - t0
    assert stamps[0][1] == "", "the simulator's first chunk carries only the role"
    assert TTFT.check(right, total, stamps).outcome == "correct"
    assert "**no text**" in TTFT.check(role, total, stamps).message
    assert "overwritten" in TTFT.check(every, total, stamps).message
    assert "Subtract `t0`" in TTFT.check(right, time.perf_counter(), stamps).message


def test_invoke_drawback_says_about_the_same_speed():
    """Lesson 02 measures small differences between invoke and stream: never "the same speed"."""
    q = load_quiz("01")["invoke_drawback"]
    slower = q.letters()[[c["text"].startswith("The model writes the answer more slowly")
                          for c in q.spec["choices"]].index(True)]
    message = q.check(slower).message
    assert "about the same speed (lesson 02 measures it)" in message and "at the same speed" not in message


# ---- lesson 03: the sweep comes from the lesson's own loop -----------------------------------

CONCURRENCY = load_quiz("03")["best_concurrency"]


def batch_run(c: int, makespan_s: float, n_429: int = 0, n_failed: int = 0, n: int = 8) -> BatchResult:
    """A measure_batch result: `n_429` requests turned away at once, `n_failed` timed out."""
    errors = ["RateLimitError: 429"] * n_429 + ["APITimeoutError: timed out"] * n_failed
    reqs = [RequestTiming(i, 0.0, 0.01 if i < len(errors) else makespan_s, i >= len(errors),
                          errors[i] if i < len(errors) else None, 0 if i < len(errors) else 30)
            for i in range(n)]
    return BatchResult(tuple(reqs), c, makespan_s, makespan_s)


RUNS = {c: batch_run(c, m, k) for c, m, k in [(1, 8.1, 0), (2, 4.2, 0), (4, 2.3, 0), (8, 1.6, 3), (16, 1.2, 4)]}


@pytest.mark.parametrize("chosen, runs, outcome, text", [
    (4, RUNS, "correct", ""),
    (4, {**RUNS, 3: batch_run(3, 2.25)}, "correct", ""),           # within 5% of the fastest clean one
    (2, RUNS, "incorrect", "finished clearly faster"),
    (1, RUNS, "incorrect", "finished clearly faster"),     # "the safest" is not the fastest
    (16, RUNS, "incorrect", "a 429 is not an answer"),     # the most concurrency: fastest only by failing
    (8, RUNS, "incorrect", "3 429(s)"),
    (5, RUNS, "incorrect", "isn't a setting you measured"),
    ("4", RUNS, "incorrect", "isn't a setting you measured"),
    (8, {8: RUNS[8], 16: RUNS[16]}, "incorrect", "Every setting"),
    (4, {**RUNS, 4: batch_run(4, 2.3, n_failed=1)}, "incorrect", "1 request(s) failed"),
    (4, {**RUNS, 4: batch_run(8, 2.3)}, "incorrect", "measured with max_concurrency=8"),
    (4, {**RUNS, 4: batch_run(4, 2.3, n=12)}, "incorrect", "same prompts"),
    (4, [RUNS[4]], "incorrect", "Pass your runs"),
    (4, {4: 2.3}, "incorrect", "numbers typed in"),
    (4, {4: "fast"}, "incorrect", "not a measurement"),
])
def test_best_concurrency_judges_the_learners_runs(chosen, runs, outcome, text):
    feedback = CONCURRENCY.check(chosen, runs)
    assert feedback.outcome == outcome and text in feedback.message


@pytest.mark.parametrize("invented", [
    {16: (1.0, 0)},                                        # the walkthrough's planted answer
    {1: (8.1, 0), 2: (4.2, 0), 4: (2.3, 0), 8: (1.6, 3), 16: (1.0, 0)},
    {**RUNS, 16: (1.0, 0)},                                # one setting's numbers made up
])
def test_best_concurrency_refuses_typed_in_numbers(invented):
    """The old check trusted typed (makespan, n_429) pairs, so 16 with an invented clean 1.0 s passed."""
    feedback = CONCURRENCY.check(16, invented)
    assert feedback.outcome == "incorrect" and "numbers typed in" in feedback.message


# ---- lesson 05: the monthly bill and its classic slips --------------------------------------

BILL = load_quiz("05")["monthly_bill"]
MINI = Price("gpt-4o-mini", input_per_1m=0.15, cached_input_per_1m=0.075, output_per_1m=0.60)
SWAPPED = Price("swapped", input_per_1m=0.60, cached_input_per_1m=0.30, output_per_1m=0.15)
RIGHT_BILL = monthly_cost(2000, 1500, 200, MINI, cache_hit_rate=0.3)
NO_CACHE = monthly_cost(2000, 1500, 200, MINI)

# Each classic slip worked out with cost.monthly_cost, and the words its message must contain.
SLIPS = [
    (NO_CACHE.total_usd, "you left out the cache"),
    (monthly_cost(2000, 1500, 200, MINI, cache_hit_rate=0.7).total_usd, "only the 30%"),
    (RIGHT_BILL.input_usd + NO_CACHE.output_usd, "prompt tokens only"),
    (NO_CACHE.input_usd + RIGHT_BILL.output_usd, "output tokens only"),
    (monthly_cost(2000, 1500, 200, MINI, prompt_cache_share=0.3).total_usd, "cached-input price"),
    (monthly_cost(2000, 1500, 200, MINI, cache_hit_rate=0.3, days=1).total_usd, "**one day**"),
    (monthly_cost(2000, 1500, 200, MINI, days=1).total_usd, "one day, without the cache"),
    (monthly_cost(2000, 1500, 200, SWAPPED, cache_hit_rate=0.3).total_usd, "swapped the prices"),
    (RIGHT_BILL.input_usd, "input tokens only"),
    (RIGHT_BILL.output_usd, "output tokens only"),
    (monthly_cost(2000, 1500, 200, MINI, cache_hit_rate=0.3, batch_api=True).total_usd, "Batch API"),
    (RIGHT_BILL.total_usd * 1000, "not by 1,000"),
    (RIGHT_BILL.total_usd * 1e6, "per **million** tokens"),
]


def test_monthly_bill_answer_is_the_cost_module():
    assert round(RIGHT_BILL.total_usd, 2) == BILL.spec["expect"]["value"] == 14.49
    assert BILL.check(round(RIGHT_BILL.total_usd, 2)).outcome == "correct"
    assert BILL.check(RIGHT_BILL.total_usd).outcome == "correct"        # unrounded is fine too


@pytest.mark.parametrize("value, words", SLIPS, ids=[w for _, w in SLIPS])
def test_monthly_bill_names_each_classic_slip(value, words):
    for answer in (value, round(value, 2)):
        feedback = BILL.check(answer)
        assert feedback.outcome == "incorrect" and words in feedback.message, (answer, str(feedback))


def test_monthly_bill_other_wrong_numbers_get_the_checklist():
    for answer in (14.0, 15, 100, -14.49):
        feedback = BILL.check(answer)
        assert feedback.outcome == "incorrect" and "classic slips" in feedback.message


# ---- the scenario -> mode exercise ----------------------------------------------------------

def test_real_world_gives_feedback_per_scenario_without_the_answer():
    question = load_quiz("04")["real_world"]
    rule = question.spec["expect"]
    good = {"chatgpt-like ui": " Streaming ", "RAG document ingestion": "batch",
            "Nightly report: one summary, one request": "INVOKE", "Evaluating 1,000 prompts": "abatch"}
    assert question.check(good).outcome == "correct"
    feedback = question.check({**good, "Nightly report: one summary, one request": "batch"})
    assert feedback.outcome == "incorrect"
    assert rule["feedback"]["Nightly report: one summary, one request"] in feedback.message
    assert rule["feedback"]["ChatGPT-like UI"] not in feedback.message
    missing = dict(list(good.items())[:3])
    assert "add it to your dict" in question.check(missing).message
    assert question.check({**good, "RAG document ingestion": ____}).outcome == "not_attempted"
    assert "Pass a dict" in question.check("stream").message
    for key, message in rule["feedback"].items():
        assert not any(mode in message.lower() for mode in ("stream", "batch", "invoke")), key


def test_nightly_report_scenario_says_it_is_one_request():
    question = QUIZ04["real_world"]
    key = next(k for k in question.spec["expect"]["answers"] if "ightly" in k)
    assert "one request" in key and "one request" in question.spec["expect"]["feedback"][key]


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
     " rubric: [{any: [x]}]}", "`kind` must be one of"),           # keyword-graded free text is gone
    ("\n  - {id: bad_q, kind: self_check, prompt: p, explanation: e, hints: [h], model_answer: m}",
     "`compare`"),
    ("\n  - {id: bad_q, kind: multi, prompt: p, explanation: e, hints: [h],"
     " choices: [{text: A, correct: false, feedback: f}, {text: B, correct: false, feedback: g}]}", "`choices`"),
    ("\n  - {id: bad_q, kind: exercise, prompt: p, explanation: e, hints: [h], args: [x],"
     " solution: s, expect: {type: number, value: 1, wrong: w}}", "`example`"),
    ("\n  - {id: bad_q, kind: exercise, prompt: p, explanation: e, hints: [h], args: [x],"
     " example: [1], solution: s, expect: {type: number, value: 1, wrong: w}}", "tolerance"),
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


def bad_bank(tmp_path, text: str) -> str:
    """The one-line error loading this bank gives."""
    (tmp_path / "99_bad.yaml").write_text(text)
    with pytest.raises(QuizFormatError) as info:
        load_quiz("99", quiz_dir=tmp_path)
    message = str(info.value)
    assert "\n" not in message and info.value.__cause__ is None and info.value.__suppress_context__
    return message


@pytest.mark.parametrize("body, message", [
    (GOOD_CHOICE.replace("    prompt: Which?\n", ""), "question 'bad_q': `prompt` is missing."),
    (GOOD_CHOICE.replace("hints: [Think.]", "hints: Think."), "question 'bad_q': `hints` must be a list."),
    (GOOD_CHOICE.replace("correct: false", "correct: nope"),
     "question 'bad_q': `choices` item 2 `correct` must be true or false."),
    (GOOD_CHOICE.replace(", feedback: Not that.", ""),
     "question 'bad_q': `choices` item 2 is a wrong choice without `feedback` saying why."),
    (GOOD_CHOICE.replace("hints:", "hint:"), "question 'bad_q': `hint` is not a known field here (a typo?)."),
    (GOOD_CHOICE.replace("kind: choice", "kind: essay"),
     "question 'bad_q': `kind` must be one of choice, multi, numeric, self_check, exercise."),
    (GOOD_CHOICE.replace("    kind: choice\n", ""), "question 'bad_q': `kind` is missing."),
    (GOOD_CHOICE.replace("id: bad_q", "id: Bad Q"),
     "question 'Bad Q': `id` must be made of lowercase letters, digits and _."),
    (GOOD_CHOICE + GOOD_CHOICE.replace("Which?", "Which one?"), "question 'bad_q': its id is used twice."),
    ("\n  - {id: n, kind: numeric, prompt: p, explanation: e, hints: [h], expected: '3',"
     " tolerance: {abs: 0.1}, feedback: {low: l, high: h}}", "question 'n': `expected` must be a number."),
    ("\n  - {id: n, kind: numeric, prompt: p, explanation: e, hints: [h], expected: 3,"
     " tolerance: {abs: 0.1, rel: 0.1}, feedback: {low: l, high: h}}",
     "question 'n': `tolerance` needs exactly one of `abs` or `rel`."),
    ("\n  - {id: x, kind: exercise, prompt: p, explanation: e, hints: [h], args: [x], example: [1],"
     " solution: s, expect: {type: regex, value: 1, wrong: w}}",
     "question 'x': `expect.type` must be one of equals, choice_of, number, greater_than, mapping."),
    ("\n  - {id: x, kind: exercise, prompt: p, explanation: e, hints: [h], args: [x], example: [1],"
     " solution: s, expect: {type: mapping, answers: {a: [b]}, feedback: {c: d}}}",
     "question 'x': `expect` needs one `feedback` message per key of `answers`."),
])
def test_schema_error_is_one_line_naming_file_id_and_field(tmp_path, body, message):
    assert bad_bank(tmp_path, "questions:" + body) == f"99_bad.yaml, {message}"


def test_schema_error_for_a_bad_yaml_file_names_the_line(tmp_path):
    assert bad_bank(tmp_path, "questions:\n  - {id: a\n") .startswith("99_bad.yaml: this is not valid YAML at line ")


def test_every_bank_is_the_pydantic_schema():
    """The models are the format: each bank on disk validates, and the schema exports (for editors)."""
    import yaml

    from helpers.quiz.model import QUIZ_DIR
    from helpers.quiz.schema import Bank
    for path in sorted(QUIZ_DIR.glob("*.yaml")):
        bank = Bank.model_validate(yaml.safe_load(path.read_text()))
        assert len(bank.questions) == len(list(load_quiz(path.stem))), path.name
    assert set(Bank.model_json_schema()["properties"]) == {"title", "questions"}


# ---- widgets, driven by their click handlers ---------------------------------------------------

def parts(box):
    """prompt, entry, buttons by description, feedback widget."""
    prompt, entry, row, feedback = box.children
    return prompt, entry, {b.description: b for b in row.children}, feedback


SINGLE = [k for k in CHOICES if load_quiz(k[0])[k[1]].kind == "choice"]


@pytest.mark.parametrize("question", SINGLE, ids=qid, indirect=True)
def test_choice_widget_check_and_hint(question):
    _, entry, buttons, feedback = parts(question.widget())
    buttons["Check"].click()
    assert "Not attempted" in feedback.value
    wrong = next(x for x, c in zip(question.letters(), question.spec["choices"]) if not c["correct"])
    entry.value = wrong
    buttons["Check"].click()
    assert "Not yet" in feedback.value
    entry.value = correct_args(question)[0]
    buttons["Check"].click()
    assert "<b>Correct</b>" in feedback.value
    buttons["Hint"].click()
    assert "Hint 1 of" in feedback.value


def test_multi_widget_ticks_boxes():
    question = QUIZ04["capstone_why"]
    _, entry, buttons, feedback = parts(question.widget())
    ticks = dict(zip(question.letters(), entry.children))
    buttons["Check"].click()                        # nothing ticked: not attempted
    assert "Not attempted" in feedback.value
    for letter in correct_args(question)[0]:
        ticks[letter].value = True
    ticks["a"].value = True                         # plus one wrong reason
    buttons["Check"].click()
    assert "Not yet" in feedback.value
    ticks["a"].value = False
    buttons["Check"].click()
    assert "<b>Correct</b>" in feedback.value


def test_self_check_widget_compares_and_never_says_correct():
    question = QUIZ04["capstone_own_words"]
    _, entry, buttons, feedback = parts(question.widget())
    compare = buttons["Compare with the model answer"]
    compare.click()                                 # empty box: not an attempt
    assert "Not attempted" in feedback.value
    entry.value = "Batch, not stream: batch lets every customer see answers sooner."
    compare.click()
    assert "Self-assessment" in feedback.value and "Correct" not in feedback.value
    assert "batch lets every customer" in feedback.value and "Model answer" in feedback.value
    entry.value = question.spec["model_answer"]
    compare.click()
    assert "Self-assessment" in feedback.value and "<b>Correct</b>" not in feedback.value


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
    question.check("c")
    question.check("a")
    data = json.loads((progress_dir / "progress.json").read_text())
    assert data["02_stream/stream_faster"] == {"best": "correct", "checks": 3}
    summary = progress_summary()
    assert summary["02_stream"]["questions"]["stream_faster"] == "correct"
    assert summary["02_stream"]["correct"] == 1 and summary["02_stream"]["total"] == 4
    assert summary["01_invoke"]["tried"] == 0


def test_progress_ranks_self_assessment_between_not_yet_and_correct(progress_dir):
    load_quiz("04")["capstone_own_words"].check("streaming, because the first words come sooner")
    load_quiz("04")["capstone"].check("a")
    data = json.loads((progress_dir / "progress.json").read_text())
    assert data["04_latency_vs_throughput/capstone_own_words"]["best"] == "self_assessed"
    assert data["04_latency_vs_throughput/capstone"]["best"] == "incorrect"
    load_quiz("04")["capstone"].check("b")
    summary = progress_summary()["04_latency_vs_throughput"]
    assert summary["questions"]["capstone_own_words"] == "self_assessed" and summary["correct"] == 1


def test_progress_can_be_switched_off(progress_dir, monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS", "off")
    load_quiz("02")["stream_faster"].check("b")
    assert not progress_dir.exists()
    assert progress_summary()["02_stream"]["correct"] == 0


def test_progress_write_failure_never_fails_a_check(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("COURSE_PROGRESS_DIR", str(blocker / "sub"))
    assert load_quiz("02")["stream_faster"].check("c").outcome == "correct"


def test_corrupt_progress_file_is_replaced(progress_dir):
    progress_dir.mkdir(parents=True)
    (progress_dir / "progress.json").write_text("{not json")
    assert progress_summary()["02_stream"]["tried"] == 0
    load_quiz("02")["stream_faster"].check("a")
    assert progress_summary()["02_stream"]["questions"]["stream_faster"] == "incorrect"


def test_default_progress_file_is_in_the_home_folder_wherever_the_notebook_runs(tmp_path, monkeypatch):
    """Not next to the code: an installed course sits in a read-only site-packages."""
    home, elsewhere = tmp_path / "home", tmp_path / "notebooks"
    elsewhere.mkdir()
    monkeypatch.delenv("COURSE_PROGRESS_DIR")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(elsewhere)
    assert progressmod.progress_path() == home / ".invoke_stream_batch" / "progress.json"
    load_quiz("02")["stream_faster"].check("c")
    assert json.loads((home / ".invoke_stream_batch" / "progress.json").read_text()) == {
        "02_stream/stream_faster": {"best": "correct", "checks": 1}}
    assert list(elsewhere.iterdir()) == []
    assert progress_summary()["02_stream"]["correct"] == 1


def test_unwritable_progress_folder_gives_one_line_once_and_the_check_still_answers(tmp_path, monkeypatch,
                                                                                    capsys):
    blocker = tmp_path / "a_file"              # a file where the folder should be: even root can't write there
    blocker.write_text("not a folder")
    monkeypatch.delenv("COURSE_PROGRESS_DIR")
    monkeypatch.setenv("HOME", str(blocker))
    monkeypatch.setattr(progressmod, "_noted", set())
    question = load_quiz("02")["stream_faster"]
    assert question.check("c").outcome == "correct"
    assert question.check("a").outcome == "incorrect"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("Progress not saved: can't write ")
    assert "COURSE_PROGRESS_DIR" in err and "COURSE_PROGRESS=off" in err


def test_progress_off_wins_over_the_folder_and_says_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PROGRESS", "OFF")
    monkeypatch.setenv("COURSE_PROGRESS_DIR", str(tmp_path / "a_file_dir"))
    monkeypatch.setattr(progressmod, "_noted", set())
    assert progressmod.progress_path() is None
    assert load_quiz("02")["stream_faster"].check("c").outcome == "correct"
    assert not (tmp_path / "a_file_dir").exists() and capsys.readouterr().err == ""


# ---- docstrings for learners -------------------------------------------------------------------

def test_public_helpers_have_docstrings_naming_their_lesson():
    for name in quizmod.__all__:
        if name != "____":
            doc = getattr(quizmod, name).__doc__ or ""
            assert "lesson" in doc.lower(), name
    for name in ("check", "hint", "solution", "widget", "text"):
        assert getattr(quizmod.Question, name).__doc__, name
