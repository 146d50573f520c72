"""Server-side batching helpers (lesson 03): the prediction grid and figure, and a tiny real run."""
import matplotlib

matplotlib.use("Agg")
import pytest

from helpers import server_batching
from helpers.timing import BatchResult, RequestTiming


def fake(tokens_per_request=16, n=6, makespan=2.0):
    reqs = tuple(RequestTiming(i, 0.0, makespan, True, None, tokens_per_request) for i in range(n))
    return BatchResult(reqs, 1, makespan, makespan)


def test_prediction_grid_more_slots_more_throughput_but_saturating():
    runs = {(p, c): fake() for p in (1, 4) for c in (1, 4, 8)}
    pred = server_batching.predicted_grid(runs)
    assert pred[1, 1] == pytest.approx(pred[1, 8])        # one slot: concurrency only queues
    assert pred[4, 4] > pred[4, 1] and pred[4, 8] == pytest.approx(pred[4, 4])
    fig, axes = server_batching.slots_figure(runs, pred)
    assert len(axes) == 2 and axes[0].get_legend() is not None


def test_bad_arguments():
    with pytest.raises(ValueError, match="whole numbers"):
        server_batching.local_slots_sweep(n_prompts=0)


def test_tiny_real_sweep():
    pytest.importorskip("xllamacpp")
    from helpers import local_model
    try:
        local_model.gguf_path()
    except Exception as e:
        pytest.skip(str(e))
    runs = server_batching.local_slots_sweep(n_parallels=(2,), concurrencies=(1, 2), n_prompts=2, max_tokens=4)
    assert set(runs) == {(2, 1), (2, 2)}
    assert all(r.n_errors == 0 and r.tokens_per_s > 0 for r in runs.values())
