"""A structured answer on the wire: OpenAI's message and stream-delta shapes for JSON content
and for a tool call (checked against openai.types.chat.chat_completion_chunk and
langchain_openai's _convert_delta_to_message_chunk).

A tool call's first delta carries index, id, type, the function's name and empty
arguments; each later delta one fragment of the arguments (one simulator token); the
finish reason is "tool_calls". JSON content streams as ordinary content deltas.
"""
from __future__ import annotations

from dataclasses import dataclass

from .tokens import tokenize


@dataclass(frozen=True)
class Reply:
    """A structured answer: the JSON text; for a tool call, its id and the tool's name."""
    json_text: str
    call_id: str | None = None
    tool_name: str | None = None


def limit(r: Reply, max_tokens: int) -> tuple[list[str], str]:
    """The reply's tokens, cut at max_tokens (mid-JSON, as a real model's are), and the finish reason."""
    toks = tokenize(r.json_text)
    if len(toks) > max_tokens:
        return toks[:max_tokens], "length"
    return toks, "tool_calls" if r.call_id else "stop"


def message(r: Reply | None, content: str) -> dict:
    """The non-streamed answer's message: text or JSON content, or a tool call (content null)."""
    if r is None or r.call_id is None:
        return {"role": "assistant", "content": content, "refusal": None} if r else {"role": "assistant",
                                                                                    "content": content}
    call = {"id": r.call_id, "type": "function", "function": {"name": r.tool_name, "arguments": content}}
    return {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}


def first_delta(r: Reply | None) -> dict:
    """The stream's first delta (role; for a tool call, OpenAI's header: index, id, type, name, empty arguments)."""
    if r is None or r.call_id is None:
        return {"role": "assistant", "content": ""}
    call = {"index": 0, "id": r.call_id, "type": "function", "function": {"name": r.tool_name, "arguments": ""}}
    return {"role": "assistant", "content": None, "tool_calls": [call]}


def delta(r: Reply | None, token: str) -> dict:
    """One token's delta: content, or a fragment of the tool call's arguments."""
    if r is None or r.call_id is None:
        return {"content": token}
    return {"tool_calls": [{"index": 0, "function": {"arguments": token}}]}
