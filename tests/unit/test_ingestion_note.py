"""Lesson 05, deep-dive A: the note under the ingestion plot is computed from the runs. With 2
requests, 16 in flight cannot beat 4, but 4 can beat 1 (both requests at once); the note must not
call a real step noise, nor call noise a step."""
from helpers.lessons.rag_ingest import IngestionRun, same_work_note


def run(size, conc, total_s, n=32):
    return IngestionRun(size, conc, n, -(-n // size), total_s)


def test_a_step_bigger_than_the_spread_of_same_work_runs_is_called_so():
    runs = [run(16, 1, 0.20), run(16, 4, 0.14), run(16, 16, 0.145), run(1, 1, 1.0), run(1, 16, 0.2)]
    note = same_work_note(runs)
    assert note.startswith("chunk_size=16 makes 2 requests, so max_concurrency 4 and 16 both send them at once")
    assert "the same work, 4 % apart" in note
    assert "from max_concurrency=1 to all at once, chunks/s changed +40 %: more than twice that noise" in note
    assert "chunk_size=1 " not in note           # 32 requests: no two of its runs did the same work


def test_a_step_within_the_noise_is_not_called_a_gain():
    note = same_work_note([run(16, 1, 0.20), run(16, 4, 0.16), run(16, 16, 0.20)])
    assert "25 % apart" in note and "not clearly more than that noise" in note


def test_no_same_work_pair_says_there_is_no_measure_of_noise():
    assert same_work_note([run(1, 1, 1.0), run(1, 4, 0.3)]).startswith("no two runs here did the same work")
