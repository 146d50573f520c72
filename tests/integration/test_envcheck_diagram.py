"""Tests for helpers/envcheck.py (lesson 00's environment report) and helpers/diagram.py.

Every check returns a CheckResult and never raises; a failing check carries a
one-line fix; an unreachable or stalled backend is a ✘ row within seconds.
Diagram functions return (fig, ax) and never call plt.show().
"""
from __future__ import annotations

import inspect
import socket
import sys
import threading
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from helpers import diagram, envcheck  # noqa: E402
from helpers.backends import Backend  # noqa: E402
from helpers.errors import BackendError  # noqa: E402
from helpers.lessons.envcheck import CheckResult, Report  # noqa: E402
from helpers.timing import InvokeResult, ServerSplit  # noqa: E402


def one_line_fix(result: CheckResult) -> None:
    assert not result.ok and result.status in ("✘ problem", "○ optional")
    assert result.fix.strip() and "\n" not in result.fix and len(result.fix) < 250


# ---- single checks ------------------------------------------------------------------------

def test_python_check_passes_here_and_fails_on_old_python():
    assert envcheck.check_python().ok
    assert envcheck.check_python((3, 11, 0)).ok
    assert not envcheck.check_python((3, 10, 9)).ok
    old = envcheck.check_python((3, 9, 18))
    one_line_fix(old)
    assert "3.9.18" in old.detail and "3.11" in old.fix


def test_package_check_shows_version_or_a_fix():
    good = envcheck.check_package("openai")
    assert good.ok and good.status == "✔ ok" and good.fix == ""
    assert good.detail.split()[0] == __import__("openai").__version__
    missing = envcheck.check_package("no-such-package-xyz")
    one_line_fix(missing)
    assert "requirements.txt" in missing.fix


def test_package_check_notes_a_version_other_than_the_pin():
    result = envcheck.check_package("openai", pins={"openai": "0.0.1"})
    assert result.ok and "course tested with 0.0.1" in result.detail


def test_pinned_versions_read_requirements(tmp_path):
    pins = envcheck.pinned_versions()
    assert pins["langchain-openai"] and pins["ipywidgets"].startswith("8")
    (tmp_path / "r.txt").write_text("# c\nFoo_Bar==1.2  # note\nbaz>=2\n")
    assert envcheck.pinned_versions(tmp_path / "r.txt") == {"foo_bar": "1.2"}
    assert envcheck.pinned_versions(tmp_path / "missing.txt") == {}


def test_widgets_check_says_how_to_tell():
    result = envcheck.check_widgets()
    assert result.ok and "slider" in result.detail


def test_local_model_check_is_optional(monkeypatch):
    from helpers import local_model
    result = envcheck.check_local_model()
    assert isinstance(result, CheckResult) and result.name == "local model"

    def missing():
        raise BackendError("LLM_BACKEND=local needs xllamacpp, which is not installed: run pip ...")
    monkeypatch.setattr(local_model, "gguf_path", missing)
    absent = envcheck.check_local_model()
    one_line_fix(absent)
    assert absent.optional and absent.status == "○ optional"


# ---- the backend check -----------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_backend_is_a_problem_not_an_exception():
    b = Backend("compatible", f"http://127.0.0.1:{_free_port()}/v1", "m", "sk-secret-key-123456")
    t0 = time.perf_counter()
    result = envcheck.check_backend(b, timeout_s=3)
    assert time.perf_counter() - t0 < 5
    one_line_fix(result)
    assert "unreachable" in result.detail and "LLM_BASE_URL" in result.fix
    assert "secret" not in result.detail + result.fix and "sk-…3456" in result.detail


@pytest.fixture
def stalled_server():
    """A server that accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held, stop = [], threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                pass
    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}/v1"
    stop.set()
    for c in held:
        c.close()
    srv.close()


def test_stalled_backend_times_out_within_its_limit(stalled_server):
    t0 = time.perf_counter()
    result = envcheck.check_backend(Backend("compatible", stalled_server, "m", "k"), timeout_s=1)
    assert time.perf_counter() - t0 < 4
    one_line_fix(result)
    assert "timed out" in result.detail


def test_misconfigured_backend_gives_the_config_message(monkeypatch):
    monkeypatch.setenv("LLM_BACKEND", "compatible")
    monkeypatch.delenv("LLM_BASE_URL", raising=False)
    monkeypatch.delenv("LLM_MODEL", raising=False)
    monkeypatch.setattr("helpers.backends.load_env", lambda: None)
    result = envcheck.check_backend()
    one_line_fix(result)
    assert "LLM_BASE_URL" in result.fix


def test_simulator_backend_answers_with_a_ttft(monkeypatch):
    monkeypatch.setenv("LLM_BACKEND", "sim")
    monkeypatch.setenv("LLM_SIM_TIME_SCALE", "0.1")
    result = envcheck.check_backend(timeout_s=10)
    assert result.ok, result
    assert result.detail.startswith("sim · model sim") and "first token after" in result.detail
    assert "sim-no-key-needed" not in result.detail


# ---- the report ------------------------------------------------------------------------------

REPORT = Report((CheckResult(True, "Python", "3.11.7"),
                 CheckResult(False, "backend", "unreachable", "start the <server> & retry"),
                 CheckResult(False, "local model", "not installed", "optional: pip install x", optional=True)))


def test_report_text_uses_words_and_one_line_fixes():
    text = str(REPORT)
    assert "✔ ok" in text and "✘ problem" in text and "○ optional" in text
    assert "fix: start the <server> & retry" in text
    assert "1 problem(s)" in text and repr(REPORT) == text
    assert not REPORT.ok


def test_report_html_is_a_table_with_words_and_escaped_fixes():
    page = REPORT._repr_html_()
    assert page.startswith("<table>") and page.count("<tr>") == 4
    assert "✔ ok" in page and "✘ problem" in page and "start the &lt;server&gt; &amp; retry" in page


def test_optional_failures_do_not_spoil_the_report():
    report = Report((REPORT.results[0], REPORT.results[2]))
    assert report.ok and "All set" in str(report)


def test_full_report_runs_every_check(monkeypatch):
    monkeypatch.setenv("LLM_BACKEND", "sim")
    monkeypatch.setenv("LLM_SIM_TIME_SCALE", "0.1")
    report = envcheck.report()
    names = [r.name for r in report.results]
    assert names[0] == "Python" and "backend" in names and names[-1] == "local model"
    assert all(isinstance(r, CheckResult) for r in report.results)
    assert all(r.fix for r in report.results if not r.ok)
    assert report.ok, str(report)


# ---- diagrams ----------------------------------------------------------------------------------

@pytest.fixture
def no_show(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("diagram functions must not call plt.show()")
    monkeypatch.setattr(plt, "show", boom)
    yield
    plt.close("all")


RESULT = InvokeResult("Explain caching.", "Caching keeps answers.", 1.7, 12, 73,
                      ServerSplit(0.2, 0.06, overhead_s=0.3))


def test_request_flow_returns_fig_and_axes(no_show):
    fig, axes = diagram.request_flow()
    assert isinstance(fig, plt.Figure) and len(axes) == 2
    text = " ".join(t.get_text() for ax in axes for t in ax.texts)
    for word in ("queue", "prefill", "decode", "invoke", "stream", "batch", "SSE", "max_concurrency"):
        assert word in text
    # hatched and solid bars are explained in a legend, one entry per kind of bar
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    hatches = [getattr(h, "get_hatch", lambda: "line")() for h in fig.legends[0].legend_handles]
    assert len(legend) == 7 and "hatched" in fig.legends[0].get_title().get_text()
    assert {"..", "//", "////", None, "line"} <= set(hatches)
    # batch's answers are held until the slowest request is done, and the legend says so
    assert any("slowest" in t for t in legend)


def test_invoke_timeline_shows_the_wait_and_the_answer(no_show):
    fig, ax = diagram.invoke_timeline(RESULT)
    assert isinstance(fig, plt.Figure) and [t.get_text() for t in ax.get_yticklabels()] == ["what you see"]
    assert "1.70 s" in ax.get_title() and ax.get_xlabel() == "time since the call (s)"
    assert any("73 tokens" in t.get_text() for t in ax.texts)


def test_invoke_timeline_adds_the_server_split(no_show):
    fig, ax = diagram.invoke_timeline(RESULT, show_server=True, backend="sim")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["what you see", "server"]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["queue: waiting for a slot (0.20 s)", "overhead: the same for any prompt (0.30 s)",
                      "reading the prompt (prefill) (0.06 s)", "generating tokens, + network (1.14 s)"]
    bars = [(round(p.get_x(), 3), round(p.get_width(), 3)) for p in ax.patches if p.get_y() > 0.5]
    assert bars == [(0.0, 0.2), (0.2, 0.3), (0.5, 0.06), (0.56, 1.14)]  # drawn apart, end to end
    assert ax.get_title().endswith("(sim)")


def test_invoke_timeline_without_a_server_split_has_one_row(no_show):
    no_split = InvokeResult("p", "t", 2.0, 5, 40, None)
    fig, ax = diagram.invoke_timeline(no_split, show_server=True)
    assert len(ax.get_yticklabels()) == 1 and not fig.legends


@pytest.mark.parametrize("module", [envcheck, diagram])
def test_public_functions_have_docstrings_naming_their_lesson(module):
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert obj.__doc__ and "lesson" in obj.__doc__.lower(), name


# ---- the lessons' exercise solutions, run against the simulator -------------------------------

def _solution_code(question) -> str:
    text = question.spec["solution"]
    return text.split("```")[1].strip("\n")


def test_lesson_exercise_solutions_pass_on_the_simulator(monkeypatch, capsys):
    monkeypatch.setenv("LLM_BACKEND", "sim")
    monkeypatch.setenv("LLM_SIM_TIME_SCALE", "0.1")
    monkeypatch.setenv("COURSE_PROGRESS", "off")
    from helpers import chat_model, load_quiz, measure_invoke
    llm = chat_model(timeout=30)
    prompts = {"sentence": "Explain caching in one sentence.", "default": "Explain caching.",
               "detail": "Explain caching in detail."}
    for lesson, qid, args in [("00", "first_reply_tokens", ["output_tokens", "reply"]),
                              ("01", "slowest_prompt", ["slowest_name", "results"])]:
        quiz = load_quiz(lesson)
        ns = {"llm": llm, "quiz": quiz, "measure_invoke": measure_invoke, "prompts": prompts}
        exec(_solution_code(quiz[qid]), ns)  # noqa: S102 -- our own solution text
        assert quiz[qid].check(*[ns[a] for a in args]).outcome == "correct", qid
    printed = capsys.readouterr().out
    assert printed.count("tokens/s while writing") == 3
    assert ns["slowest_name"] == "detail"


# ---- lessons 00-02: the beginner's path (the blank, open guesses, the glossary) -------------

import json  # noqa: E402
import re  # noqa: E402

LESSONS_00_02 = ["00_start_here", "01_invoke", "02_stream"]
GLOSSARY_TERMS = ["TTFT", "p50 / p95", "makespan", "Runnable", "SSE", "jitter", "slot / `n_parallel`",
                  "continuous batching", "prefill / decode", "document chunk", "`chunk_size` (texts per request)"]


def _cells(name: str) -> list[dict]:
    nb = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))
    return [{"type": c["cell_type"], "src": "".join(c["source"])} for c in nb["cells"]]


@pytest.mark.parametrize("name", LESSONS_00_02)
def test_the_blank_is_imported_only_where_an_exercise_uses_it(name):
    """The setup import never brings `____`; a cell that imports it also uses it as a blank."""
    code = [c["src"] for c in _cells(name) if c["type"] == "code"]
    setup = next(s for s in code if "from helpers import" in s and "resolve_backend" in s)
    assert "____" not in setup
    for src in code:
        if re.search(r"from helpers import .*____", src):
            rest = re.sub(r"from helpers import .*____", "", src)
            assert "= ____" in rest or "____ " in rest, src


@pytest.mark.parametrize("name", ["01_invoke", "02_stream"])
def test_guesses_are_left_open_and_a_blank_prints_as_no_guess(name):
    """No pre-filled guess: every guess cell holds the blank, and the cell that compares
    it with the measurement says "no guess" for anything that is not a guess."""
    cells = _cells(name)
    code = [c["src"] for c in cells if c["type"] == "code"]
    guesses = [m.group(1) for s in code
               for m in re.finditer(r"^((?:my_)?guess_\w+|my_biggest)\s*=\s*(.+?)\s*(?:#|$)", s, re.M)]
    assert guesses, "no guess cells found"
    for var in guesses:
        assigned = [s for s in code if re.search(rf"^{var}\s*=", s, re.M)]
        assert all(re.search(rf"^{var}\s*=\s*____", s, re.M) for s in assigned), var
        users = [s for s in code if re.search(rf"\b{var}\b", s) and s not in assigned]
        assert users and all("no guess" in s for s in users), var
    prose = " ".join(c["src"] for c in cells if c["type"] == "markdown")
    assert prose.count("A fact to reason from") >= len(guesses) - 1


def test_lesson_00_says_the_text_is_canned_and_has_the_glossary():
    cells = _cells("00_start_here")
    first_call = next(i for i, c in enumerate(cells) if c["type"] == "code" and ".stream(" in c["src"])
    assert "canned" in cells[first_call + 1]["src"]
    glossary = next(c["src"] for c in cells if c["src"].startswith("## Glossary"))
    for term in GLOSSARY_TERMS:
        assert f"**{term}**" in glossary, term


@pytest.mark.parametrize("name", LESSONS_00_02)
def test_each_header_states_its_time_and_glossary_links_resolve(name):
    cells = _cells(name)
    assert re.search(r"\*\*Time:\*\* about \d+ minutes \(about [\w ]+ of it running cells, on `sim`\)",
                     cells[0]["src"])
    headings = {line[3:].strip() for c in _cells("00_start_here") for line in c["src"].splitlines()
                if line.startswith("## ")}
    for c in cells:
        for anchor in re.findall(r"\]\((?:00_start_here\.ipynb)?#([^)]+)\)", c["src"]):
            assert anchor.replace("-", " ") in headings, anchor
