"""Lesson 03's progress bar for a batch: the count it shows is exact, whatever order and
thread the batch's on_progress(done, index) calls arrive from."""
import io
import threading

from helpers.lessons.sweep import progress_bar


def test_the_bar_is_named_and_ends_at_the_highest_done_reported(monkeypatch):
    import tqdm.auto

    seen = {}
    real = tqdm.auto.tqdm

    def spy(*args, **kw):
        bar = real(*args, file=io.StringIO(), **kw)
        seen["bar"] = bar
        return bar

    monkeypatch.setattr(tqdm.auto, "tqdm", spy)
    with progress_bar(40, "batch of 40, default max_concurrency") as tick:
        for done in (2, 1, 3, 3):          # out of order and repeated, as threads may report
            tick(done, 0)
        assert seen["bar"].n == 3
        threads = [threading.Thread(target=tick, args=(d, d)) for d in range(4, 41)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    bar = seen["bar"]
    assert bar.n == 40 and bar.total == 40
    assert bar.desc == "batch of 40, default max_concurrency"
