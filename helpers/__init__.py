"""The course's helpers: everything the notebooks import comes from here.

    from helpers import chat_model
    for chunk in chat_model().stream("Explain streaming"):
        print(chunk.content, end="", flush=True)
"""
from . import explain as _explain
from .backends import (Backend, ask_for_openai_key, chat_model, embeddings_model, mask,
                       resolve_backend, use_backend)
from .errors import BackendError, CourseError
from .llm_server.latency import Job, get_profile, predict_batch, predict_single
from .quiz import ____, load_quiz, progress_summary, show
from .simulator import SimServer, start_simulator, stop_simulators
from .timing import (BatchResult, InvokeResult, RequestTiming, StreamResult, ameasure_batch,
                     measure_batch, measure_invoke, measure_stream)

_explain.install()

__all__ = [
    "chat_model", "embeddings_model", "resolve_backend", "use_backend", "ask_for_openai_key",
    "mask", "Backend", "BackendError", "CourseError",
    "start_simulator", "stop_simulators", "SimServer",
    "measure_invoke", "measure_stream", "measure_batch", "ameasure_batch",
    "InvokeResult", "StreamResult", "BatchResult", "RequestTiming",
    "Job", "get_profile", "predict_batch", "predict_single",
    "load_quiz", "show", "progress_summary", "____",
]
