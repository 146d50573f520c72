"""Classroom mode: one simulator for a room, students known by `TOKEN:name` keys."""
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI

from helpers.timing import measure_batch

ROOT = Path(__file__).resolve().parents[2]
TOKEN, DASH = "class-tok-42", "dash-tok-99"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class ClassServer:
    """`python -m helpers.llm_server` in classroom mode, on loopback."""

    def __init__(self, *args: str):
        env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "helpers.llm_server", "--port", "0", "--time-scale", "0.05",
             "--class-token", TOKEN, "--dashboard-token", DASH, *args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), self.url
        self.root = self.url[:-3]
        self.err: list[str] = []
        threading.Thread(target=lambda: self.err.extend(self.proc.stderr), daemon=True).start()

    def get(self, path: str, key: str | None = None, **kw) -> httpx.Response:
        h = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.get(self.url + path, headers=h, timeout=10, **kw)

    def chat(self, key: str, **body) -> httpx.Response:
        body = {"model": "sim", "messages": [{"role": "user", "content": "Explain batching"}],
                "max_tokens": 5, **body}
        return httpx.post(self.url + "/chat/completions", json=body, timeout=10,
                          headers={"Authorization": f"Bearer {key}"})

    def room(self) -> dict:
        r = self.get("/sim/classroom", DASH)
        assert r.status_code == 200
        return r.json()

    def stop(self) -> str:
        self.proc.terminate()
        self.proc.wait(timeout=5)
        time.sleep(0.1)
        return "".join(self.err)


@pytest.fixture(scope="module")
def srv():
    s = ClassServer("--rpm", "6")  # 6 requests per scaled minute (3 s) per student
    yield s
    log = s.stop()
    assert f"{TOKEN}:" not in log and DASH not in log  # keys are never logged


def llm(srv, name: str, **kw) -> ChatOpenAI:
    kw.setdefault("max_retries", 0)
    kw.setdefault("timeout", 20)
    return ChatOpenAI(base_url=srv.url, api_key=f"{TOKEN}:{name}", model="sim", temperature=0, **kw)


def test_public_bind_without_a_token_is_refused():
    env = {k: v for k, v in os.environ.items() if k != "LLM_CLASS_TOKEN"}
    p = subprocess.run([sys.executable, "-m", "helpers.llm_server", "--host", "0.0.0.0", "--port", "0"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "--class-token" in lines[0]


@pytest.mark.parametrize("args,needle", [
    (["--class-token", "abc"], "6-200"),                          # too short
    (["--class-token", "abc:defgh"], "no colon"),
    (["--class-token", "abcdefgh", "--dashboard-token", "abcdefgh"], "differ"),
])
def test_bad_tokens_are_refused(args, needle):
    p = subprocess.run([sys.executable, "-m", "helpers.llm_server", "--port", "0", *args],
                       cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and needle in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_token_from_env_but_not_for_notebook_servers():
    env = {**os.environ, "LLM_CLASS_TOKEN": TOKEN}
    for extra, expect in (([], 401), (["--parent-pid", str(os.getpid())], 200)):
        p = subprocess.Popen([sys.executable, "-m", "helpers.llm_server", "--port", "0", *extra],
                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            url = p.stdout.readline().strip()
            assert httpx.get(url + "/models", timeout=10).status_code == expect
        finally:
            p.terminate()
            p.wait(timeout=5)


@pytest.mark.parametrize("key", [None, "wrong", TOKEN, f"{TOKEN}:", f"{TOKEN}:Bad Name!", f"{TOKEN}:instructor",
                                 f"x{TOKEN}:alice", f"{DASH}:alice"])
@pytest.mark.parametrize("method,path", [("GET", "/models"), ("POST", "/chat/completions"),
                                         ("POST", "/embeddings"), ("GET", "/sim/stats"),
                                         ("POST", "/sim/stats/reset"), ("GET", "/sim/config"),
                                         ("GET", "/sim/classroom"), ("GET", "/no-such-route")])
def test_every_v1_route_needs_the_class_token(srv, key, method, path):
    h = {"Authorization": f"Bearer {key}"} if key else {}
    r = httpx.request(method, srv.url + path, headers=h, json={"model": "sim", "input": "x"}, timeout=10)
    assert r.status_code == 401
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["code"] == "invalid_api_key"
    assert err["type"] == "invalid_request_error" and "<class token>:" in err["message"]
    assert key is None or key not in r.text  # the key is never echoed


def test_health_stays_open_and_anonymous(srv):
    srv.chat(f"{TOKEN}:healthcheck")
    r = httpx.get(srv.root + "/health", timeout=10)
    assert r.status_code == 200 and set(r.json()) == {"status", "in_flight", "busy_slots", "queue_depth"}


def test_openai_sdk_sees_authentication_error(srv):
    c = openai.OpenAI(base_url=srv.url, api_key="not-the-token", max_retries=0, timeout=10)
    with pytest.raises(openai.AuthenticationError):
        c.chat.completions.create(model="sim", messages=[{"role": "user", "content": "hi"}])


def test_a_student_gets_answers_through_chatopenai(srv):
    m = llm(srv, "carol")
    msg = m.invoke("Explain streaming")
    assert "stream" in msg.content.lower() and msg.usage_metadata["output_tokens"] > 10
    assert len(list(m.stream("Explain streaming"))) > 5
    me = srv.get("/sim/stats", f"{TOKEN}:Carol").json()  # names are case-insensitive
    assert me["student"] == "carol" and me["requests_total"] == 2 and me["completed"] == 2


def test_rate_limits_are_per_student(srv):
    alice = [srv.chat(f"{TOKEN}:alice").status_code for _ in range(10)]
    assert alice.count(429) >= 2 and alice[:3] == [200, 200, 200]   # her limit is 6 per scaled minute
    r = srv.chat(f"{TOKEN}:alice")
    if r.status_code == 429:
        assert r.json()["error"]["code"] == "rate_limit_exceeded" and float(r.headers["retry-after-ms"]) > 0
    assert srv.chat(f"{TOKEN}:bob").status_code == 200               # bob is unaffected
    room = {s["name"]: s for s in srv.room()["students"]}
    assert room["alice"]["rejected_429"] >= 2 and room["bob"]["rejected_429"] == 0


def test_one_student_cannot_hold_every_slot():
    s = ClassServer()  # classroom defaults: at most 8 in flight per student
    try:
        # 12 requests that never finish (until the client gives up after 3 s): 8 hold
        # a place, the other 4 are refused at once; everyone else still gets in.
        m = llm(s, "greedy", timeout=3, default_headers={"X-Sim-Fault": "stall"})
        with ThreadPoolExecutor(1) as pool:
            job = pool.submit(m.batch, [f"Explain slot {i}" for i in range(12)],
                              config={"max_concurrency": 12}, return_exceptions=True)
            time.sleep(1.0)
            assert s.chat(f"{TOKEN}:bob").status_code == 200
            outs = job.result()
        timeouts = [o for o in outs if isinstance(o, openai.APITimeoutError)]
        limited = [o for o in outs if isinstance(o, openai.RateLimitError)]
        assert (len(timeouts), len(limited)) == (8, 4), outs
        assert all("in flight" in str(o) for o in limited)
        me = s.get("/sim/stats", f"{TOKEN}:greedy").json()
        assert me["rejected_429"] == 4 and me["limits"]["max_in_flight"] == 8
    finally:
        s.stop()


def test_student_stats_show_only_their_own_numbers(srv):
    for who in ("dave", "erin"):
        assert srv.chat(f"{TOKEN}:{who}").status_code == 200
    r = srv.get("/sim/stats", f"{TOKEN}:dave")
    me = r.json()
    assert me["student"] == "dave" and me["requests_total"] == 1
    for other in ("erin", "alice", "bob", "by_key", TOKEN):
        assert other not in r.text
    assert set(me["room"]) == {"in_flight", "busy_slots", "queue_depth", "slots"}
    # resetting zeroes only my own row
    reset = httpx.post(srv.url + "/sim/stats/reset", json={}, headers={"Authorization": f"Bearer {TOKEN}:dave"},
                       timeout=10)
    assert reset.json()["requests_total"] == 0
    room = {s["name"]: s for s in srv.room()["students"]}
    assert room["dave"]["requests"] == 0 and room["erin"]["requests"] == 1


def test_dashboard_json_needs_the_instructor_token_and_shows_names_only(srv):
    assert srv.chat(f"{TOKEN}:frank").status_code == 200
    r = srv.get("/sim/classroom", f"{TOKEN}:frank")
    assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"
    r = srv.get("/sim/classroom", DASH)
    d = r.json()
    assert TOKEN not in r.text and DASH not in r.text and "key-" not in r.text
    names = [s["name"] for s in d["students"]]
    assert "frank" in names
    assert {"in_flight", "busy_slots", "queue_depth", "slots"} <= set(d["room"])
    assert {"tokens_per_s", "answers_per_s", "p50_latency_s", "window_s"} <= set(d)
    # the instructor sees everyone through the ordinary stats route too
    assert "frank" in srv.get("/sim/stats", DASH).json()["by_key"]


def test_dashboard_page_is_static_and_locked_down(srv):
    r = httpx.get(srv.root + "/dashboard", timeout=10)
    assert r.status_code == 200 and "<script>" in r.text and "frank" not in r.text
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "http" not in csp
    assert not re.search(r'(src|href)=["\']?(?!data:)[^"\'\s>]|url\((?!["\']?data:)', r.text)  # all inline
    assert r.headers["cache-control"] == "no-store"


def run_class(url: str, n_students: int, n_greedy: int, prompts: int = 12, greedy_prompts: int = 40,
              greedy_concurrency: int = 16) -> dict:
    """Every student runs the batch lesson's workload at once; returns {name: BatchResult}."""
    def student(i: int):
        greedy = i < n_greedy
        name = f"greedy{i}" if greedy else f"student{i:02d}"
        m = ChatOpenAI(base_url=url, api_key=f"{TOKEN}:{name}", model="sim", timeout=60,
                       max_retries=0, temperature=0)
        ps = [f"In one sentence: what is topic {k}? ({name})" for k in range(greedy_prompts if greedy else prompts)]
        return name, measure_batch(m, ps, max_concurrency=greedy_concurrency if greedy else 4)
    with ThreadPoolExecutor(n_students) as pool:
        return dict(pool.map(student, range(n_students)))


def test_a_small_class_only_greedy_students_see_429s():
    s = ClassServer("--slots", "16", "--time-scale", "0.2")  # defaults: 60 rpm, 8 in flight each
    try:
        results = run_class(s.url, n_students=10, n_greedy=2)
        for name, r in results.items():
            if name.startswith("greedy"):
                assert r.n_rate_limited > 0 and r.n_errors == r.n_rate_limited, name
            else:
                assert r.n_errors == 0, (name, [q.error for q in r.requests if q.error][:1])
        room = s.room()
        limited = {x["name"] for x in room["students"] if x["rejected_429"]}
        assert limited == {"greedy0", "greedy1"}
        assert room["totals"]["peak_in_flight"] > 16  # the room really did queue
    finally:
        s.stop()


def test_dashboard_renders_in_chromium_during_a_load():
    if not os.path.exists(CHROMIUM):
        pytest.skip("no /usr/bin/chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    srv = ClassServer("--time-scale", "0.2")
    stop = threading.Event()

    def load(i: int):  # students run small batches with a pause; one is greedy
        greedy = i == 0
        m = llm(srv, "greedy-gus" if greedy else f"pat{i}", max_tokens=60)
        while not stop.is_set():
            m.batch([f"Explain load {k}" for k in range(16 if greedy else 4)],
                    config={"max_concurrency": 16 if greedy else 4}, return_exceptions=True)
            stop.wait(0.2 if greedy else 1.0)

    threads = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(14)]
    for t in threads:
        t.start()
    problems: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(srv.root + "/dashboard#token=" + DASH)
            page.wait_for_selector("#students table", timeout=15_000)
            deadline = time.time() + 15  # (wait_for_function would need eval, which the CSP forbids)
            while page.inner_text("#tps").strip() in ("–", "0") and time.time() < deadline:
                time.sleep(0.2)
            assert page.inner_text("#tps").strip() not in ("–", "0")
            assert DASH not in page.url  # the token left the address bar
            body = page.inner_text("body")
            assert "pat1" in body and "greedy-gus" in body and "busy slots" in body.lower()
            assert DASH not in page.content()
            (ROOT / "artifacts").mkdir(exist_ok=True)
            page.screenshot(path=str(ROOT / "artifacts" / "classroom_dashboard.png"))
            # a wrong token is refused and asks again
            page2 = browser.new_page()
            page2.goto(srv.root + "/dashboard#token=nope")
            page2.wait_for_selector("#login:not(.hidden)", timeout=10_000)
            assert "not accepted" in page2.inner_text("#login")
            browser.close()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        srv.stop()
    assert not problems, problems  # e.g. a Content-Security-Policy violation
