"""Answers without text: tool calls (`tools` + `tool_choice`) and JSON (`response_format`).

`parse` checks the request's `tools`, `tool_choice` and `response_format` (a SchemaError
names the bad field, in OpenAI's words); `reply` makes the answer: a JSON text and, for a
tool call, the call's id and name. The text streams token by token like any answer
(chat.py; the wire shapes are replies.py): JSON as content deltas, a call as argument fragments.

Schemas: the subset of JSON Schema that OpenAI's strict mode allows (schemas.py checks them
and makes the values).

Values are deterministic (seeded by the prompt, like the text) and valid against the
schema: strings are short phrases from the simulator's answer to the same prompt. It is
no model: with tool_choice "auto" it calls the tool named in the prompt (else the first)
unless the last message is a tool result, which it answers in text. json_object mode
answers an object whose keys are the words quoted in the prompt ('setup', "punchline"),
else {"answer": ...}.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass

from .replies import Reply, delta, first_delta, limit, message
from .schemas import SchemaError, check, finite, value
from .tokens import content_text

__all__ = ["parse", "check", "value", "reply", "prompt_tokens", "OutputSpec", "Tool", "SchemaError",
           "Reply", "limit", "message", "first_delta", "delta"]  # (the last five: replies.py, for chat.py)

_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_QUOTED_RE = re.compile(r"""['"]([A-Za-z_][A-Za-z0-9_]{0,40})['"]""")


@dataclass(frozen=True)
class Tool:
    name: str
    parameters: dict


@dataclass(frozen=True)
class OutputSpec:
    """What the answer must be: tools and the choice among them, and the content's format."""
    tools: tuple[Tool, ...] = ()
    choice: str = "auto"            # "auto", "none", "required" or a tool's name
    format: str = "text"            # "text", "json_object" or "json_schema"
    schema: dict | None = None      # the json_schema's schema


def parse(body: dict) -> OutputSpec | None:
    """The request's output spec, or None for a plain text answer."""
    tools, choice, fmt = body.get("tools"), body.get("tool_choice"), body.get("response_format")
    if tools is None and choice is None and fmt is None:
        return None
    parsed = tuple(_tool(t, i) for i, t in enumerate(_list(tools, "tools")))
    if len({t.name for t in parsed}) < len(parsed):
        raise SchemaError("Tool names must be unique.", "tools")
    kind, schema = _response_format(fmt)
    if kind == "json_object" and not any("json" in content_text(m.get("content")).lower()
                                         for m in body.get("messages") or [] if isinstance(m, dict)):
        raise SchemaError("'messages' must contain the word 'json' in some form, to use 'response_format' of "
                          "type 'json_object'.", "messages", None)
    return OutputSpec(parsed, _choice(choice, parsed), kind, schema)


def _list(v: object, param: str) -> list:
    if v is None:
        return []
    if not isinstance(v, list):
        raise SchemaError(f"Invalid type for '{param}': expected an array.", param, "invalid_type")
    return v


def _tool(t: object, i: int) -> Tool:
    where = f"tools[{i}]"
    if not isinstance(t, dict) or t.get("type") != "function" or not isinstance(t.get("function"), dict):
        raise SchemaError(f"Invalid '{where}': expected {{\"type\": \"function\", \"function\": {{...}}}}.", where)
    fn = t["function"]
    name = fn.get("name")
    if name is None:
        raise SchemaError(f"Missing required parameter: '{where}.function.name'.", f"{where}.function.name",
                          "missing_required_parameter")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise SchemaError(f"Invalid '{where}.function.name': string does not match pattern. Expected a string "
                          "that matches the pattern '^[a-zA-Z0-9_-]+$' (at most 64 characters).",
                          f"{where}.function.name")
    params = fn.get("parameters")
    params = {"type": "object", "properties": {}} if params in (None, {}) else params
    check(params, bool(fn.get("strict")), f"function '{name}'", f"{where}.function.parameters")
    finite(params, f"function '{name}'", f"{where}.function.parameters")
    if params.get("type") != "object":
        raise SchemaError(f"Invalid schema for function '{name}': schema must be a JSON Schema of 'type: \"object\"'"
                          f", got 'type: \"{params.get('type')}\"'.", f"{where}.function.parameters")
    return Tool(name, params)


def _choice(choice: object, tools: tuple[Tool, ...]) -> str:
    if choice is None:
        return "auto" if tools else "none"
    if not tools:
        raise SchemaError("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
                          "specified.", "tool_choice")
    if choice in ("auto", "none", "required"):
        return choice
    name = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
    if not (isinstance(choice, dict) and choice.get("type") == "function" and isinstance(name, str)):
        raise SchemaError("Invalid value for 'tool_choice': expected 'auto', 'none', 'required' or "
                          "{\"type\": \"function\", \"function\": {\"name\": ...}}.", "tool_choice")
    if name not in {t.name for t in tools}:
        raise SchemaError(f"Invalid value for 'tool_choice': no function named '{name[:64]}' in 'tools'.",
                          "tool_choice")
    return name


def _response_format(fmt: object) -> tuple[str, dict | None]:
    if fmt is None:
        return "text", None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind in ("text", "json_object"):
        return kind, None
    if kind != "json_schema":
        raise SchemaError("Invalid 'response_format.type': expected 'text', 'json_object' or 'json_schema'.",
                          "response_format.type")
    js = fmt.get("json_schema")
    if not isinstance(js, dict) or not isinstance(js.get("name"), str) or not _NAME_RE.match(js["name"]):
        raise SchemaError("Missing or invalid 'response_format.json_schema.name': a string of letters, digits, "
                          "_ or - (at most 64).", "response_format.json_schema.name")
    schema = js.get("schema", {"type": "object", "properties": {}, "additionalProperties": False})
    check(schema, bool(js.get("strict")), f"response_format '{js['name']}'", "response_format")
    finite(schema, f"response_format '{js['name']}'", "response_format")
    if schema.get("type") != "object":
        raise SchemaError(f"Invalid schema for response_format '{js['name']}': schema must be a JSON Schema of "
                          f"'type: \"object\"', got 'type: \"{schema.get('type')}\"'.", "response_format", None)
    return "json_schema", schema


def reply(spec: OutputSpec, messages: list[dict], prompt: str, seed: int, answer_text: str) -> Reply | None:
    """The structured answer to a request, or None when the answer is plain text."""
    rng = random.Random(int.from_bytes(hashlib.sha256(f"{seed}|{prompt}".encode()).digest()[:8], "big"))
    words = re.split(r"(?<=[.!?])\s+", answer_text.strip()) or ["simulated"]  # strings: whole sentences
    tool = _pick_tool(spec, messages, prompt)
    if tool is not None:
        args = value(tool.parameters, rng, words, tool.parameters.get("$defs", tool.parameters.get("definitions", {})))
        call_id = "call_" + hashlib.sha256(f"{seed}|{prompt}|{tool.name}".encode()).hexdigest()[:24]
        return Reply(json.dumps(args, ensure_ascii=False), call_id, tool.name)
    if spec.format == "json_schema":
        s = spec.schema or {}
        return Reply(json.dumps(value(s, rng, words, {**s.get("definitions", {}), **s.get("$defs", {})}),
                                ensure_ascii=False))
    if spec.format == "json_object":
        keys = list(dict.fromkeys(_QUOTED_RE.findall(prompt))) or ["answer"]
        obj = {k: value({"type": "string"}, rng, words, {}) for k in keys}
        if keys == ["answer"]:
            obj["answer"] = answer_text
        return Reply(json.dumps(obj, ensure_ascii=False))
    return None


def _pick_tool(spec: OutputSpec, messages: list[dict], prompt: str) -> Tool | None:
    if not spec.tools or spec.choice == "none":
        return None
    if spec.choice not in ("auto", "required"):
        return next(t for t in spec.tools if t.name == spec.choice)
    if spec.choice == "auto" and messages and messages[-1].get("role") in ("tool", "function"):
        return None  # a tool has answered: the simulator answers in text
    low = prompt.lower()
    named = [t for t in spec.tools if t.name.lower() in low or t.name.lower().replace("_", " ") in low]
    return (named or list(spec.tools))[0]


def prompt_tokens(spec: OutputSpec | None, count) -> int:
    """Extra prompt tokens for the tool definitions and the schema (they are part of the prompt)."""
    if spec is None:
        return 0
    tools = sum(count(json.dumps(t.parameters)) + count(t.name) for t in spec.tools)
    return tools + (count(json.dumps(spec.schema)) if spec.schema else 0)

