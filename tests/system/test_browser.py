"""End to end: every lesson, run in JupyterLab in a real browser, as a learner would.

One headless JupyterLab (random port and token, LLM_BACKEND=sim, LLM_SIM_TIME_SCALE=0.1,
COURSE_PROGRESS=off) and one Chromium (Playwright) serve all lessons. For each lesson:
Run -> Run All Cells, wait until every code cell has an execution count, then check that
no cell shows an error, that every widget is drawn as a widget (not "Loading widget..."
or a text repr), and click: a quiz's Check (every lesson), the stream race (02) and the
batch lab's Run (03). One screenshot per lesson goes to artifacts/browser/NN_name.png.
Failures name the lesson and "cell N" (0-based, as nbformat and JupyterLab count cells).

Needs /usr/bin/chromium (Debian package `chromium`); skipped without it.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from support.browser import CHROMIUM, CHROMIUM_ARGS, LabServer, LessonPage

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
ARTIFACTS = ROOT / "artifacts" / "browser"
VIEWPORT = {"width": 1400, "height": 1000}

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason=f"no {CHROMIUM} (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    server = LabServer(ROOT, tmp_path_factory.mktemp("jupyterlab"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# ---- the clicks ---------------------------------------------------------------------------------

FEEDBACK_JS = """el => {
  for (const b of el.querySelectorAll('.widget-html-content b')) {
    const t = b.innerText.trim();
    if (t === 'Correct' || t === 'Not yet') return t;
  }
  return null;
}"""


def answer_a_quiz(lp: LessonPage):
    """Pick option a) of the lesson's first multiple-choice quiz, click Check, see feedback."""
    page = lp.page
    quiz = page.locator(".jp-Notebook .jp-CodeCell").filter(has=page.locator(".widget-radio-box")).first
    assert quiz.count(), f"{lp.lesson}: no multiple-choice quiz widget (RadioButtons) on the page"
    assert quiz.evaluate(FEEDBACK_JS) is None, f"{lp.lesson}: the quiz shows feedback before any click"
    quiz.locator(".widget-radio-box input[type=radio]").first.check()
    quiz.locator("button.jupyter-button", has_text=re.compile(r"^\s*Check\s*$")).first.click()
    lp.wait_until("Correct / Not yet after clicking the quiz's Check", lambda: quiz.evaluate(FEEDBACK_JS), 60)
    return quiz


# Records both race panels' text lengths at every change of the widget (a MutationObserver).
RACE_RECORDER_JS = """cell => {
  const columns = Array.from(cell.querySelectorAll('.widget-hbox > .widget-vbox'));
  const read = () => {
    const out = {};
    for (const col of columns) {
      const label = Array.from(col.querySelectorAll('.widget-label'))
          .map(e => e.innerText.trim()).find(t => /^(invoke|stream):/.test(t)) || '';
      const panel = col.querySelector('.widget-html-content > div');
      const placeholder = !panel || panel.querySelector('span');   // "press Race!" / "waiting…"
      out[label.split(':')[0]] = {len: placeholder ? 0 : panel.textContent.length, label};
    }
    return out;
  };
  const rec = {t0: performance.now(), samples: []};
  const sample = () => rec.samples.push({t: performance.now() - rec.t0, ...read()});
  rec.observer = new MutationObserver(sample);
  rec.observer.observe(cell, {subtree: true, childList: true, characterData: true, attributes: true});
  sample();
  window.__race = rec;
  return Object.keys(read());
}"""

RACE_DONE_JS = """cell => {
  const s = window.__race.samples[window.__race.samples.length - 1];
  const button = Array.from(cell.querySelectorAll('button')).find(b => b.innerText.trim() === 'Race!');
  const summary = Array.from(cell.querySelectorAll('.widget-html-content')).map(e => e.innerText)
      .find(t => t.includes('sooner')) || '';
  const done = s.invoke.label.includes('done at') && s.stream.label.includes('done at');
  return done && summary && !button.disabled ? summary : null;
}"""


def run_the_race(lp: LessonPage):
    """02: click Race!, and watch both panels fill over time, stream first."""
    cell, button = lp.cell_with_button("Race!")
    assert cell.count(), f"{lp.lesson}: no StreamRace widget (a 'Race!' button) on the page"
    modes = cell.evaluate(RACE_RECORDER_JS)
    assert sorted(modes) == ["invoke", "stream"], f"{lp.lesson}: the race's panels read {modes}"
    button.first.click()
    summary = lp.wait_until("the race to end (both labels 'done at', a summary, Race! enabled again)",
                            lambda: cell.evaluate(RACE_DONE_JS), 120)
    samples = cell.evaluate("() => { window.__race.observer.disconnect(); return window.__race.samples; }")
    stream = [s["stream"]["len"] for s in samples]
    invoke = [s["invoke"]["len"] for s in samples]
    final = samples[-1]
    where = f"{lp.lesson}, StreamRace after clicking Race! ({len(samples)} samples)"
    assert stream[-1] > 0 and invoke[-1] > 0, f"{where}: a panel is still empty: {final}"
    growing = sorted({n for n in stream if 0 < n < stream[-1]})
    assert len(growing) >= 2, f"{where}: the stream panel did not fill over time; lengths seen: {sorted(set(stream))}"
    assert stream == sorted(stream), f"{where}: the stream panel's text shrank: {stream}"
    first_stream = next(s["t"] for s in samples if s["stream"]["len"])
    first_invoke = next(s["t"] for s in samples if s["invoke"]["len"])
    assert first_stream < first_invoke, (f"{where}: stream's first text ({first_stream:.0f} ms) did not "
                                         f"appear before invoke's answer ({first_invoke:.0f} ms)")
    for mode in ("invoke", "stream"):
        assert re.fullmatch(rf"{mode}: first text at \d+\.\d\d s · done at \d+\.\d\d s", final[mode]["label"]), \
            f"{where}: the {mode} label shows no times: {final[mode]['label']!r}"
    assert "sooner" in summary
    return cell


BATCH_RECORDER_JS = """cell => {
  const bar = cell.querySelector('.widget-hprogress');
  const read = () => (bar.querySelector('.widget-label') || {}).innerText || '';
  const rec = {seen: [read()]};
  rec.observer = new MutationObserver(() => {
    const t = read();
    if (t !== rec.seen[rec.seen.length - 1]) rec.seen.push(t);
  });
  rec.observer.observe(bar, {subtree: true, childList: true, characterData: true, attributes: true});
  window.__batch = rec;
  return read();
}"""

BATCH_DONE_JS = """cell => {
  const bar = cell.querySelector('.widget-hprogress');
  const fill = bar.querySelector('.progress-bar');
  const img = cell.querySelector('.widget-output img');
  const button = Array.from(cell.querySelectorAll('button')).find(b => b.innerText.trim() === 'Run batch');
  const numbers = Array.from(cell.querySelectorAll('.widget-html-content')).map(e => e.innerText)
      .find(t => t.includes('makespan')) || '';
  if (!(img && img.complete && img.naturalWidth > 0 && numbers && !button.disabled)) return null;
  return {label: (bar.querySelector('.widget-label') || {}).innerText || '', width: fill.style.width,
          success: fill.classList.contains('progress-bar-success'), img: [img.naturalWidth, img.naturalHeight],
          numbers, seen: window.__batch.seen};
}"""


def run_the_batch_lab(lp: LessonPage):
    """03: click the BatchLab's Run batch; the bar moves to its max and a timeline is drawn."""
    cell, button = lp.cell_with_button("Run batch")
    assert cell.count(), f"{lp.lesson}: no BatchLab widget (a 'Run batch' button) on the page"
    assert cell.locator(".widget-output img").count() == 0, f"{lp.lesson}: the BatchLab has a timeline before Run"
    start = cell.evaluate(BATCH_RECORDER_JS)
    button.first.click()
    done = lp.wait_until("the BatchLab run to end (a timeline image, the numbers, Run enabled again)",
                         lambda: cell.evaluate(BATCH_DONE_JS), 180)
    where = f"{lp.lesson}, BatchLab after clicking Run batch"
    m = re.fullmatch(r"done (\d+)/(\d+)", done["label"].strip())
    assert m and m[1] == m[2], f"{where}: the progress bar did not reach its max: {done['label']!r} (was {start!r})"
    assert done["width"] == "100%" and done["success"], f"{where}: the bar is not full and green: {done}"
    moving = [t for t in done["seen"]
              if (x := re.fullmatch(r"done (\d+)/(\d+)", t.strip())) and 0 < int(x[1]) < int(x[2])]
    assert moving, f"{where}: the bar never showed a value between 0 and max: {done['seen']}"
    assert done["img"][0] > 200 and done["img"][1] > 100, f"{where}: the timeline image is tiny: {done['img']}"
    return cell


KNEE_DONE_JS = """cell => {
  const button = Array.from(cell.querySelectorAll('button'))
      .find(b => b.innerText.trim() === 'Run the concurrency sweep');
  const out = Array.from(cell.querySelectorAll('.widget-output')).map(e => e.innerText).join('\\n');
  const select = cell.querySelector('select');
  if (!(button && !button.disabled && (out.match(/answered in/g) || []).length >= 2)) return null;
  return {out, question: Array.from(cell.querySelectorAll('.widget-label')).map(e => e.innerText),
          selectLabel: select && select.labels && select.labels.length ? select.labels[0].innerText : '',
          buttonName: button.innerText.trim()};
}"""


def run_the_knee_widget(lp: LessonPage):
    """04b: the knee widget shows its question and a labelled dropdown; its button runs the sweep,
    printing each point as it lands, and comes back enabled."""
    cell, button = lp.cell_with_button("Run the concurrency sweep")
    assert cell.count(), f"{lp.lesson}: no knee widget (a 'Run the concurrency sweep' button) on the page"
    button.first.click()
    done = lp.wait_until("the knee widget's sweep to print its points", lambda: cell.evaluate(KNEE_DONE_JS), 180)
    where = f"{lp.lesson}, knee widget after clicking Run"
    assert any("Pick a max_concurrency" in q for q in done["question"]), f"{where}: no visible question: {done}"
    assert done["selectLabel"].strip() == "My knee guess", f"{where}: the dropdown has no accessible label: {done}"
    assert "Your guess: no guess" in done["out"], f"{where}: the guess was not echoed: {done['out'][:300]}"
    return cell


INTERACTIONS = {"02": run_the_race, "03": run_the_batch_lab, "04b": run_the_knee_widget}
# The widget each lesson's screenshot shows, when the lesson has no click of its own (else the quiz).
SCREENSHOT_OF = {"04": r"mapping_widget\(", "05": r"CostWidget\("}


# ---- the test -----------------------------------------------------------------------------------

@pytest.mark.parametrize("nb_file", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_lesson_runs_in_the_browser(lab, browser, nb_file):
    lesson, before = nb_file.stem, nb_file.read_bytes()
    n_cells = len(json.loads(before)["cells"])
    lp = LessonPage(browser.new_page(viewport=VIEWPORT), lab, nb_file, n_cells)
    try:
        lp.open()
        lp.run_all()
        report = lp.report()
        problems = report.errors() + report.not_run() + report.widget_problems()
        assert not problems, f"{lesson} in JupyterLab:\n  " + "\n  ".join(problems)
        assert report.widget_cells(), f"{lesson}: no widget at all on the page"

        focus = answer_a_quiz(lp)
        interaction = INTERACTIONS.get(lesson.split("_")[0])
        if interaction:
            focus = interaction(lp)
        shown = [c.index for c in report.cells if c.widgetViews
                 and re.search(SCREENSHOT_OF.get(lesson.split("_")[0], "^$"), c.source)]
        if shown:
            focus = lp.cell(shown[0])
        after = lp.report()   # the clicks must not have left an error anywhere
        problems = after.errors() + after.widget_problems()
        assert not problems, f"{lesson} after the clicks:\n  " + "\n  ".join(problems)
        widget_js_errors = [e for e in lp.console_errors if re.search(r"widget|model", e, re.I)]
        assert not widget_js_errors, f"{lesson}: widget errors in the browser console: {widget_js_errors}"
        lp.screenshot(focus, ARTIFACTS / f"{lesson}.png")
        ARTIFACTS.joinpath(f"{lesson}.txt").write_text(
            "\n".join([f"widget cells: {report.widget_cells()}"] + report.warnings + lp.console_errors) + "\n")
    except Exception:
        try:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            lp.page.screenshot(path=str(ARTIFACTS / f"{lesson}-FAILED.png"))
        except Exception:  # noqa: BLE001 -- the screenshot is a bonus; report the real failure
            pass
        raise
    finally:
        lp.close()
    assert nb_file.read_bytes() == before, f"{lesson}: the notebook file changed on disk (autosave?)"
