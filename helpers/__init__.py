"""The course's helpers: everything the notebooks import comes from here.

    from helpers import chat_model
    for chunk in chat_model().stream("Explain streaming"):
        print(chunk.content, end="", flush=True)

The names below are the core (backends, timing, quizzes). A lesson's own module
(`from helpers import rag`) is loaded the first time a notebook asks for it; the
table `LESSON_MODULES` says where each one lives (see CONTRIBUTING.md for the map).
"""
import importlib

from . import explain as _explain
from .backends import Backend, ask_for_openai_key, chat_model, embeddings_model, mask, resolve_backend, use_backend
from .backends.simulator import SimServer, start_simulator, stop_simulators
from .errors import BackendError, CourseError
from .llm_server.latency import Job, get_profile, predict_batch, predict_single
from .metrics import SLO, RequestRecord, goodput, metric_percentiles, min_samples
from .metrics_live import run_streams, stream_record
from .quiz import ____, load_quiz, progress_summary, show
from .timing import (
    BatchResult,
    InvokeResult,
    RequestTiming,
    StreamResult,
    ameasure_batch,
    measure_batch,
    measure_invoke,
    measure_stream,
)

_explain.install()

LESSON_MODULES = {
    "envcheck": "helpers.lessons.envcheck",            # 00
    "diagram": "helpers.plots.diagram",                      # 00, 02
    "stream_widgets": "helpers.lessons.stream_widgets",        # 02
    "stream_rules": "helpers.lessons.stream_rules",          # 02
    "batch_lab": "helpers.lessons.batch_lab",          # 03
    "server_batching": "helpers.lessons.server_batching",  # 03
    "compare": "helpers.lessons.compare",              # 04
    "serving": "helpers.lessons.serving",              # 04
    "rag": "helpers.lessons.rag",                      # 05
    "cost": "helpers.lessons.cost",                    # 05
    "batch_api": "helpers.lessons.batch_api",          # 05
    "chat_app": "helpers.chat_app",                    # 06
    "budget": "helpers.budget",                        # 03-06
    "capacity": "helpers.lessons.capacity",            # 04b
    "local_model": "helpers.backends.local_model",              # 00, 03
    "plots": "helpers.plots",
}


def __getattr__(name: str):
    """`from helpers import rag` and friends: import a lesson's module on first use."""
    if name in LESSON_MODULES:
        module = importlib.import_module(LESSON_MODULES[name])
        globals()[name] = module
        return module
    raise AttributeError(f"module 'helpers' has no attribute {name!r}")

__all__ = [
    "chat_model", "embeddings_model", "resolve_backend", "use_backend", "ask_for_openai_key",
    "mask", "Backend", "BackendError", "CourseError",
    "start_simulator", "stop_simulators", "SimServer",
    "measure_invoke", "measure_stream", "measure_batch", "ameasure_batch",
    "InvokeResult", "StreamResult", "BatchResult", "RequestTiming",
    "RequestRecord", "SLO", "goodput", "metric_percentiles", "min_samples", "stream_record", "run_streams",
    "Job", "get_profile", "predict_batch", "predict_single",
    "load_quiz", "show", "progress_summary", "____",
]
