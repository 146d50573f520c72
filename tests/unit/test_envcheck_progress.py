"""Lesson 00's environment check shows which check is running, and returns the same rows with or without the bar."""
import io

import tqdm.auto

from helpers.lessons import envcheck


def test_the_bar_names_each_check_while_it_runs(monkeypatch):
    order, names = [], []
    real = tqdm.auto.tqdm

    def spy(*args, **kw):
        bar = real(*args, file=io.StringIO(), **kw)
        set_description = bar.set_description
        bar.set_description = lambda desc, *a, **k: (names.append(desc), set_description(desc, *a, **k))
        return bar

    def fake(label):
        return lambda *a, **k: order.append(label) or envcheck.CheckResult(True, label, "ok")

    monkeypatch.setattr(tqdm.auto, "tqdm", spy)
    monkeypatch.setattr(envcheck, "check_python", fake("Python"))
    monkeypatch.setattr(envcheck, "check_package", lambda dist, module, pins: fake(dist)())
    monkeypatch.setattr(envcheck, "check_widgets", fake("widgets"))
    monkeypatch.setattr(envcheck, "check_backend", fake("backend"))
    monkeypatch.setattr(envcheck, "check_local_model", fake("local model"))
    with_bar = envcheck.run_checks(progress=True)
    assert names == [f"checking {label}" for label in order] + ["environment check"]  # the kept bar's final name
    assert order[0] == "Python" and order[-2:] == ["backend", "local model"]
    assert [r.name for r in with_bar] == [r.name for r in envcheck.run_checks(progress=False)]
