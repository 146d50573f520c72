"""The misconception board: quiz checks in classroom mode reach the class server as ids and
letters only; self-study sends nothing anywhere."""
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest

from helpers.llm_server.board import Board
from helpers.quiz import load_quiz, report
from tests.integration.test_classroom import DASH, TOKEN, ClassServer


@pytest.fixture(scope="module")
def srv():
    s = ClassServer()
    yield s
    s.stop()


def classroom_env(monkeypatch, url: str, name: str) -> None:
    monkeypatch.setenv("LLM_BACKEND", "compatible")
    monkeypatch.setenv("LLM_BASE_URL", url)
    monkeypatch.setenv("LLM_MODEL", "sim")
    monkeypatch.setenv("LLM_API_KEY", f"{TOKEN}:{name}")
    monkeypatch.delenv("COURSE_BOARD", raising=False)


def board(srv) -> dict:
    r = httpx.get(srv.url + "/sim/board", headers={"Authorization": f"Bearer {DASH}"}, timeout=10)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    return r.json()


def control(srv, action: str) -> dict:
    r = httpx.post(srv.url + "/sim/board/control", json={"action": action}, timeout=10,
                   headers={"Authorization": f"Bearer {DASH}"})
    assert r.status_code == 200, r.text
    return r.json()


def test_thirty_students_show_with_the_right_counts(srv, monkeypatch):
    control(srv, "reset")
    quiz = load_quiz("02_stream")
    q = quiz["stream_faster"]   # a) and b) are "streaming makes the model faster", c) is right
    plan = ["a"] * 12 + ["b"] * 5 + ["c"] * 10 + ["d"] * 3
    for i, first in enumerate(plan):
        classroom_env(monkeypatch, srv.url, f"student{i}")
        if i % 3 == 0:
            q.hint()
        q.check(first)
        if first != "c":
            q.check("c")        # a second try after the feedback: "correct now", not a first answer
        report.flush()
    view = board(srv)
    assert view["students"] == 30 and not view["hidden"]
    item = next(x for x in view["questions"] if x["question"] == "stream_faster")
    assert item["answered"] == 30 and item["first_correct"] == 10 and item["correct_now"] == 30
    assert item["hinted"] == 10 and item["hint_share"] == pytest.approx(1 / 3)
    spread = {c["letter"]: c["first"] for c in item["choices"]}
    assert spread == {"a": 12, "b": 5, "c": 10, "d": 3}
    tags = {c["letter"]: c["misconception"] for c in item["choices"]}
    assert tags["a"] == tags["b"] == "streaming makes the model faster" and tags["c"] is None

    # hide: the room's spread is gone from the answer (only how many answered); reveal brings it back
    hidden = control(srv, "hide")["questions"][0]
    assert hidden["answered"] == 30 and "choices" not in hidden and "correct_now" not in hidden
    assert {c["letter"]: c["first"] for c in control(srv, "reveal")["questions"][0]["choices"]} == spread
    assert control(srv, "reset")["questions"] == [] and board(srv)["students"] == 0


def test_only_the_instructor_reads_or_changes_the_board(srv):
    student = {"Authorization": f"Bearer {TOKEN}:zoe"}
    assert httpx.get(srv.url + "/sim/board", headers=student, timeout=10).status_code == 403
    assert httpx.post(srv.url + "/sim/board/control", headers=student, json={"action": "reset"},
                      timeout=10).status_code == 403
    assert httpx.get(srv.url + "/sim/board", timeout=10).status_code == 401
    # a cross-site form can't send JSON
    r = httpx.post(srv.url + "/sim/board/control", content='{"action": "reset"}', timeout=10,
                   headers={"Authorization": f"Bearer {DASH}", "Content-Type": "text/plain"})
    assert r.status_code == 400


@pytest.mark.parametrize("body", [
    {"lesson": "02_stream", "question": "stream_faster", "event": "check", "outcome": "incorrect",
     "choices": ["a"], "text": "I think streaming is faster"},                       # an extra field
    {"lesson": "02_stream", "question": "stream_faster", "event": "check", "outcome": "incorrect",
     "choices": ["streaming is faster"]},                                             # text as a choice
    {"lesson": "02_stream", "question": "my own words", "event": "check", "outcome": "incorrect"},
    {"lesson": "02_stream", "question": "stream_faster", "event": "check", "outcome": "alice"},
    {"lesson": "02_stream", "question": "stream_faster", "event": "check", "outcome": "correct",
     "choices": ["a", "c"]},                                                          # two for a choice
])
def test_the_server_refuses_anything_but_ids_and_letters(srv, body):
    r = httpx.post(srv.url + "/sim/board", json=body, headers={"Authorization": f"Bearer {TOKEN}:mallory"},
                   timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_board_answer"


def test_what_is_kept_holds_no_name_and_no_text():
    b = Board()
    for name in ("alice", "bob"):
        b.add(name, b.parse({"lesson": "02_stream", "question": "stream_faster", "event": "check",
                             "outcome": "incorrect", "choices": ["a"]}))
        b.add(name, b.parse({"lesson": "02_stream", "question": "stream_faster", "event": "hint"}))
    kept = repr(b.rows)
    assert "alice" not in kept and "bob" not in kept and len(b.rows[("02_stream", "stream_faster")]) == 2
    assert "alice" not in json.dumps(b.view()) and b.student_id("alice") != Board().student_id("alice")  # salted


class Recorder(BaseHTTPRequestHandler):
    seen: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Recorder.seen.append((self.path, json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_client_sends_ids_and_letters_only(monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        classroom_env(monkeypatch, f"http://127.0.0.1:{server.server_port}/v1", "alice")
        quiz2, quiz4 = load_quiz("02_stream"), load_quiz("04_latency_vs_throughput")
        quiz2["stream_faster"].check("The model writes more tokens per second while it streams")   # a choice's text
        quiz2["stream_faster"].check("I believe streaming is magic")     # free text: no choices sent
        quiz4["capstone_why"].check("b, e")
        selfq = next(q for q in quiz4 if q.kind == "self_check")
        selfq.check("my secret reasoning about alice")
        report.flush()
    finally:
        server.shutdown()
    bodies = [b for _, b in Recorder.seen]
    assert {p for p, _ in Recorder.seen} == {"/v1/sim/board"}
    assert bodies[0]["choices"] == ["b"] and "choices" not in bodies[1] and bodies[2]["choices"] == ["b", "e"]
    assert bodies[3] == {"lesson": "04_latency_vs_throughput", "question": selfq.id, "event": "check",
                         "outcome": "self_assessed"}
    sent = json.dumps(bodies)
    assert "alice" not in sent and "magic" not in sent and "secret" not in sent
    assert all(set(b) <= {"lesson", "question", "event", "outcome", "choices"} for b in bodies)


def test_a_dead_server_never_slows_or_breaks_a_check(monkeypatch):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)    # accepts, never answers: the post must time out in the background
    try:
        classroom_env(monkeypatch, f"http://127.0.0.1:{sock.getsockname()[1]}/v1", "bob")
        q = load_quiz("02_stream")["stream_faster"]
        fb = q.check("c")
        assert fb.outcome == "correct"
        assert report.pending(), "the post should still be waiting, off the check's thread"
        assert report.flush(report.TIMEOUT_S + 10)
    finally:
        sock.close()


@pytest.mark.parametrize("env", [
    {"LLM_BACKEND": "sim"},                                                   # self-study
    {"LLM_BACKEND": "compatible", "LLM_BASE_URL": "http://127.0.0.1:9/v1", "LLM_API_KEY": "not-needed"},
    {"LLM_BACKEND": "compatible", "LLM_BASE_URL": "http://127.0.0.1:9/v1", "LLM_API_KEY": f"{TOKEN}:eve",
     "COURSE_BOARD": "off"},                                                  # the learner turned it off
])
def test_self_study_sends_nothing_anywhere(monkeypatch, env):
    for k in ("LLM_BACKEND", "LLM_BASE_URL", "LLM_API_KEY", "COURSE_BOARD"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    calls = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, addr: calls.append(addr))
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: calls.append(a))
    q = load_quiz("02_stream")["stream_faster"]
    q.hint()
    assert q.check("a").outcome == "incorrect"
    assert report.pending() == 0 and calls == []


def test_a_misconception_goes_only_on_a_wrong_choice(tmp_path):
    from helpers.quiz import QuizFormatError
    bank = tmp_path / "09_x.yaml"
    bank.write_text("""questions:
  - id: q1
    kind: choice
    prompt: "Which?"
    explanation: "Because."
    hints: ["Think."]
    choices:
      - {text: "right", correct: true, misconception: "a right answer can't reveal one"}
      - {text: "wrong", correct: false, feedback: "No."}
""")
    with pytest.raises(QuizFormatError, match="misconception"):
        load_quiz("09", tmp_path)
