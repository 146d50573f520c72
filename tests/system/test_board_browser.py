"""The misconception board and the dashboard in Chromium: the token guards the board as it
guards the dashboard, 30 students' answers show with the right counts, the instructor hides,
reveals and resets with the keyboard, and both pages meet WCAG AA contrast."""
import os
import re
from pathlib import Path

import httpx
import pytest
from support.a11y import contrast_failures

from tests.integration.test_classroom import CHROMIUM, CHROMIUM_ARGS, DASH, TOKEN, ClassServer

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no {CHROMIUM} (apt-get install -y chromium)")


def post(srv, name: str, **body) -> None:
    r = httpx.post(srv.url + "/sim/board", json={"lesson": "03_batch", "question": "over_the_wire", **body},
                   headers={"Authorization": f"Bearer {TOKEN}:{name}"}, timeout=10)
    assert r.status_code == 204, r.text


@pytest.fixture(scope="module")
def srv():
    s = ClassServer()
    # over_the_wire: a) one request (".batch() sends one request"), b) right, c) "batch means a discount"
    for i, letter in enumerate(["a"] * 9 + ["b"] * 14 + ["c"] * 6 + ["d"] * 1):
        if i % 5 == 0:
            post(s, f"s{i}", event="hint")
        post(s, f"s{i}", event="check", outcome="correct" if letter == "b" else "incorrect", choices=[letter])
    for i in range(3):   # and a few chat requests, so the dashboard has rows
        httpx.post(s.url + "/chat/completions", timeout=10, headers={"Authorization": f"Bearer {TOKEN}:s{i}"},
                   json={"model": "sim", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5})
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(url)
    return page, problems


def counts(page) -> dict:
    rows = page.locator('article[data-id="03_batch/over_the_wire"] .row')
    return {rows.nth(i).get_attribute("data-letter"): rows.nth(i).locator(".count").inner_text()
            for i in range(rows.count())}


def test_the_board_needs_the_token_like_the_dashboard(srv, browser):
    for path in ("/board", "/dashboard"):
        page, problems = open_page(browser, srv.root + path)           # no token: a login form, no data
        page.wait_for_selector("#login:not(.hidden)", timeout=10_000)
        assert page.locator("#main").is_hidden() and "over_the_wire" not in page.content()
        page.goto(srv.root + path + "#token=nope")                     # a wrong one is refused
        page.wait_for_selector("#login:not(.hidden)", timeout=10_000)
        assert "not accepted" in page.inner_text("#login")
        page.goto(srv.root + path + "#token=%E0%A4%A")                 # a malformed link
        page.wait_for_selector("#login:not(.hidden)", timeout=10_000)
        assert "%E0" not in page.url and "malformed" in page.inner_text("#login")
        assert not [p for p in problems if "401" not in p], problems   # the refused token's 401 is expected
        page.close()


def test_the_board_shows_the_room_and_the_instructor_hides_reveals_resets(srv, browser):
    page, problems = open_page(browser, srv.root + "/board#token=" + DASH)
    page.wait_for_selector('article[data-id="03_batch/over_the_wire"] .row', timeout=10_000)
    assert DASH not in page.url and DASH not in page.content()     # off the projector
    assert counts(page) == {"a": "9 (30%)", "b": "14 (47%)", "c": "6 (20%)", "d": "1 (3%)"}
    text = page.inner_text('article[data-id="03_batch/over_the_wire"]')
    assert "Misconception: .batch() sends one request" in text and "Misconception: batch means a discount" in text
    assert "✓ right answer" in text and "needed a hint: 6 of 30 (20%)" in text
    assert "30 answered" in text and "first try correct: 14" in text
    (ROOT / "artifacts").mkdir(exist_ok=True)
    page.screenshot(path=str(ROOT / "artifacts" / "classroom_board.png"), full_page=True)

    # keyboard only: Tab to "Hide the results", Enter; the spread disappears, then Space reveals it
    page.locator("body").focus()
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "toggle":
            break
    assert page.evaluate("() => document.activeElement.id") == "toggle"
    page.keyboard.press("Enter")
    page.wait_for_selector("article .hiddennote", timeout=10_000)
    assert "30 of 30 answered · results hidden" in page.inner_text("#questions")
    assert page.locator(".row").count() == 0
    assert "choices" not in httpx.get(srv.url + "/sim/board", headers={"Authorization": f"Bearer {DASH}"},
                                      timeout=10).json()["questions"][0]
    page.keyboard.press("Space")    # focus stays on the button, now "Reveal the results"
    page.wait_for_selector(".row", timeout=10_000)
    assert counts(page)["b"] == "14 (47%)"
    checked, failures = contrast_failures(page)
    assert checked >= 15 and not failures, failures

    page.on("dialog", lambda d: d.accept())
    page.keyboard.press("Tab")      # on to "Reset the board"
    assert page.evaluate("() => document.activeElement.id") == "reset"
    page.keyboard.press("Enter")
    page.wait_for_selector("#empty:not(.hidden)", timeout=10_000)
    assert page.locator("article").count() == 0 and re.search(r"\b0 students\b", page.inner_text("#summary"))
    assert not problems, problems    # e.g. a Content-Security-Policy violation
    page.close()


def test_the_dashboard_meets_wcag_aa_contrast(srv, browser):
    page, problems = open_page(browser, srv.root + "/dashboard#token=" + DASH)
    page.wait_for_selector("#students table", timeout=10_000)
    checked, failures = contrast_failures(page)
    assert checked >= 20 and not failures, failures
    # the check can fail: grey #999 text on white is 2.8:1
    page.evaluate("""() => { const s = document.createElement('span'); s.textContent = 'pale';
                             s.style.color = '#999999'; document.querySelector('footer').appendChild(s); }""")
    assert any('"pale": 2.85 < 4.5' in f for f in contrast_failures(page)[1])
    assert not problems, problems
    page.close()
