"""Lesson 04's note under "all done: batch vs invoke loop": the shared-cores explanation only
where it applies (the local model on this CPU); elsewhere the overlap is described from the
repeats themselves. Hand-made comparisons, no server."""
from __future__ import annotations

from helpers.lessons.compare import orders
from helpers.lessons.compare_results import JobRun, ModeComparison, ModeResult
from helpers.lessons.compare_verdicts import CPU_NOTE, ONE_AT_A_TIME_NOTE, SLOWER_NOTE, batch_note, verdicts


def _runs(mode, done, n=4):
    return ModeResult(mode, tuple(JobRun(mode, (d,) * n, d, 120, 0, d if mode == "batch" else None)
                                  for d in done))


def _cmp(label, inv_done, batch_done, max_concurrency=4):
    return ModeComparison(label, max_concurrency, ("a", "b", "c", "d"), _runs("invoke", inv_done),
                          _runs("stream", inv_done), _runs("batch", batch_done), orders(3), "text")


# sim, 16 slots: batch far sooner in two repeats, one noisy repeat reaching the invoke loop's range
NOISY_SIM = _cmp("sim", (1.03, 1.05, 1.04), (0.37, 0.38, 1.10))


def test_a_noisy_repeat_on_sim_is_not_blamed_on_shared_cores():
    text = str(verdicts(NOISY_SIM))
    assert CPU_NOTE not in text and "cores" not in text          # the old note said the requests share cores
    assert batch_note(NOISY_SIM) == ("(one repeat was slow: batch's slowest took 1.10 s, the invoke loop's "
                                     "fastest 1.03 s; the ranges overlap, so this run cannot tell them apart)")


def test_the_cores_note_stays_on_the_local_model():
    local = _cmp("local", (6.74, 6.5, 6.9), (13.0, 12.5, 14.0))
    assert batch_note(local) == CPU_NOTE and CPU_NOTE in str(verdicts(local))
    local_overlap = _cmp("local", (6.74, 6.5, 6.9), (5.0, 6.6, 7.2))
    assert batch_note(local_overlap) == CPU_NOTE


def test_other_notes_follow_the_run():
    assert batch_note(_cmp("sim", (1.03, 1.05, 1.04), (0.37, 0.38, 0.36))) is None   # clearly sooner
    assert batch_note(_cmp("sim", (1.03, 1.05, 1.04), (1.1, 1.2, 1.3), max_concurrency=1)) == ONE_AT_A_TIME_NOTE
    assert batch_note(_cmp("openai", (1.03, 1.05, 1.04), (1.6, 1.7, 1.8))) == SLOWER_NOTE
    two = batch_note(_cmp("sim", (1.03, 1.05, 1.04), (0.37, 1.035, 1.10)))
    assert two.startswith("(2 of 3 repeats were slow") and "cores" not in two
    assert "not sooner by the medians" in batch_note(_cmp("sim", (1.03, 1.05, 1.04), (1.0, 1.07, 1.06)))
