"""Keyboard only, in JupyterLab in Chromium: a quiz, the stream race (02), the batch lab (03)
and the cost widget (05) are operated with Tab, Space and Enter alone, and every control in
them has an accessible name (what a screen reader reads), computed by the browser.

One small notebook (made in a temporary folder, never in the repository) holds the four
widgets, so the test runs in well under a minute. The only non-keyboard step: focus is put
on each widget's first element, as a click into the output would; from there only keys are used.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from support.browser import CHROMIUM, CHROMIUM_ARGS, LabServer, LessonPage

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no {CHROMIUM} (apt-get install -y chromium)")

CELLS = [
    "from helpers import batch_lab, chat_model, cost, load_quiz, start_simulator, stream_widgets\n"
    "srv = start_simulator()\nllm = chat_model(server=srv, timeout=30, max_retries=0, max_tokens=40)\n"
    "quiz = load_quiz('02_stream')",
    "quiz.show('stream_faster')",
    "stream_widgets.StreamRace(llm, 'Explain streaming in 30 words.')",
    "batch_lab.BatchLab(llm, server=srv, n_prompts=6, max_concurrency=3)",
    "cost.CostWidget(cost.load_prices())",
    "from helpers import compare\ncompare.mapping_widget(load_quiz('04')['real_world'])",
    "load_quiz('04').show('capstone_why')",   # a multi question: checkboxes
    "load_quiz('04').show('capstone_own_words')",   # a self_check: a text box
]


def notebook(path: Path) -> None:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"k{i}", "metadata": {}, "outputs": [],
              "source": src} for i, src in enumerate(CELLS)]
    path.write_text(json.dumps({"cells": cells, "metadata": {"kernelspec": {
        "display_name": "Python 3", "language": "python", "name": "python3"}}, "nbformat": 4,
        "nbformat_minor": 5}), encoding="utf-8")


@pytest.fixture(scope="module")
def lesson(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    root = tmp_path_factory.mktemp("keyboard")
    notebook(root / "keyboard.ipynb")
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(ROOT) + (os.pathsep + old if old else "")   # the kernel finds helpers
    server = LabServer(root, tmp_path_factory.mktemp("jupyterlab"))
    try:
        server.start()
    finally:
        os.environ.pop("PYTHONPATH") if old is None else os.environ.__setitem__("PYTHONPATH", old)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        lp = LessonPage(browser.new_page(viewport={"width": 1400, "height": 1000}), server,
                        root / "keyboard.ipynb", len(CELLS))
        lp.open()
        lp.run_all(timeout_s=120)
        yield lp
        lp.close()
        browser.close()
    server.stop()


def output(lp: LessonPage, index: int):
    return lp.cell(index).locator(".jp-OutputArea-output .jupyter-widgets").first


def start_in(lp: LessonPage, index: int) -> None:
    """Focus the first focusable element of cell `index`'s widget (as a click into it would)."""
    out = output(lp, index)
    out.wait_for(timeout=30_000)
    out.evaluate("""el => { const f = el.querySelector('button, input, select, textarea, [tabindex="0"]');
                            f.scrollIntoView({block: 'center'}); f.focus(); }""")


def focused(lp: LessonPage) -> dict:
    return lp.page.evaluate("""() => { const e = document.activeElement;
        return {tag: e.tagName.toLowerCase(), text: (e.innerText || '').trim(), type: e.type || '',
                role: e.getAttribute('role') || '', label: (e.closest('label') || {}).innerText || ''}; }""")


def tab_to(lp: LessonPage, what: str, matches, presses: int = 12) -> None:
    """Press Tab until the focused element `matches`; fail if it takes more than `presses`."""
    for _ in range(presses):
        if matches(focused(lp)):
            return
        lp.page.keyboard.press("Tab")
    assert matches(focused(lp)), f"Tab never reached {what} (focus is on {focused(lp)})"


def button(text: str):
    return lambda f: f["tag"] == "button" and f["text"] == text


def unnamed_controls(lp: LessonPage, index: int) -> list[str]:
    """Controls in the widget's accessibility tree with no name (Chromium's own computation)."""
    tree = output(lp, index).aria_snapshot()
    roles = r"button|checkbox|radio|slider|combobox|textbox|spinbutton|progressbar"
    return [line.strip() for line in tree.splitlines() if re.match(rf'\s*- ({roles})\b(?! ")', line)]


def test_every_control_has_an_accessible_name(lesson):
    trees = {i: output(lesson, i).aria_snapshot() for i in range(1, len(CELLS))}
    assert all(re.search(r'- (button|radio|checkbox|combobox|spinbutton|textbox) "', t) for t in trees.values()), trees
    problems = {i: unnamed_controls(lesson, i) for i in trees}
    assert not any(problems.values()), problems


def test_a_quiz_by_keyboard(lesson):
    cell = lesson.cell(1)
    start_in(lesson, 1)
    assert focused(lesson)["type"] == "radio"
    lesson.page.keyboard.press("Space")               # a) the first choice
    tab_to(lesson, "the Check button", button("Check"))
    lesson.page.keyboard.press("Enter")
    lesson.wait_until("Not yet after Enter on Check", lambda: "Not yet" in cell.inner_text(), 30, 0.2)
    lesson.page.keyboard.press("Tab")                 # on to Hint
    assert focused(lesson)["text"] == "Hint"
    lesson.page.keyboard.press("Space")
    lesson.wait_until("Hint 1 of 1 after Space on Hint", lambda: "Hint 1 of" in cell.inner_text(), 30, 0.2)


def test_the_stream_race_by_keyboard(lesson):
    cell = lesson.cell(2)
    start_in(lesson, 2)
    tab_to(lesson, "the Race! button", button("Race!"))
    lesson.page.keyboard.press("Enter")
    lesson.wait_until("the race's summary", lambda: "× sooner" in cell.inner_text(),
                      60, 0.3)


def test_the_batch_lab_by_keyboard(lesson):
    cell = lesson.cell(3)
    start_in(lesson, 3)
    tab_to(lesson, "the Run batch button", button("Run batch"))
    lesson.page.keyboard.press("Space")
    lesson.wait_until("done 6/6", lambda: "done 6/6" in cell.inner_text(), 60, 0.3)
    (ROOT / "artifacts").mkdir(exist_ok=True)
    cell.screenshot(path=str(ROOT / "artifacts" / "keyboard_batch_lab.png"))


def test_the_cost_widget_by_keyboard(lesson):
    cell = lesson.cell(4)
    start_in(lesson, 4)
    before = re.search(r"\$([\d,.]+) per month", cell.inner_text()).group(1)
    tab_to(lesson, "the Batch API checkbox", lambda f: f["type"] == "checkbox", presses=15)
    lesson.page.keyboard.press("Space")
    lesson.wait_until("a new monthly cost after ticking Batch API",
                      lambda: re.search(r"\$([\d,.]+) per month", cell.inner_text()).group(1) != before, 30, 0.2)
    cell.screenshot(path=str(ROOT / "artifacts" / "keyboard_cost_widget.png"))
