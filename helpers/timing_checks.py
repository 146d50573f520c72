"""Small checks shared by the measuring functions (lessons 01-04): a prompt, a model, the usage
a message reports. One-line errors that say what to pass."""
from __future__ import annotations

from typing import Any


def usage(msg: Any, key: str) -> int | None:
    usage = getattr(msg, "usage_metadata", None) or {}
    return usage.get(key)


def check_prompt(prompt: Any) -> None:
    """A prompt is a non-empty string (or, for a chain, a non-empty dict or list of messages)."""
    if hasattr(prompt, "invoke"):
        raise ValueError("the model comes first, then the prompt: e.g. measure_invoke(llm, \"Explain streaming\")")
    ok = prompt.strip() if isinstance(prompt, str) else isinstance(prompt, (dict, list)) and prompt
    if not ok:
        raise ValueError(f"prompt must be a non-empty string, got {prompt!r:.40}")


def check_model(model: Any, method: str = "invoke") -> None:
    if not hasattr(model, method):
        raise ValueError(f"model must be a chat model (e.g. llm = chat_model()) or a chain, got {model!r:.40}")
