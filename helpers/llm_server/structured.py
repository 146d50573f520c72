"""Answers without text: tool calls (`tools` + `tool_choice`) and JSON (`response_format`).

`parse` checks the request's `tools`, `tool_choice` and `response_format` (a SchemaError
names the bad field, in OpenAI's words); `reply` makes the answer: a JSON text and, for a
tool call, the call's id and name. The text streams token by token like any answer
(chat.py; the wire shapes are replies.py): JSON as content deltas, a call as argument fragments.

Schemas: the subset of JSON Schema that OpenAI's strict mode allows -- object (properties,
required, additionalProperties false), string, number, integer, boolean, null, enum, const,
array (items, minItems, maxItems), (exclusive) minimum/maximum, nullable as a type list, anyOf, $defs
and $ref -- plus title/description/default/examples, which change nothing. Any other
keyword is a 400. With strict true, every object must list every property in `required`
and set additionalProperties false (as OpenAI checks).

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
import math
import random
import re
from dataclasses import dataclass

from .replies import Reply, delta, first_delta, limit, message
from .tokens import content_text

__all__ = ["parse", "check", "value", "reply", "prompt_tokens", "OutputSpec", "Tool", "SchemaError",
           "Reply", "limit", "message", "first_delta", "delta"]  # (the last five: replies.py, for chat.py)

ANNOTATIONS = {"title", "description", "default", "examples", "$comment"}
KEYWORDS = {"type", "properties", "required", "additionalProperties", "items", "enum", "const", "anyOf",
            "$defs", "definitions", "$ref", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
            "minItems", "maxItems"} | ANNOTATIONS
TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}
_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_QUOTED_RE = re.compile(r"""['"]([A-Za-z_][A-Za-z0-9_]{0,40})['"]""")
MAX_DEPTH = 8


class SchemaError(ValueError):
    """A bad tools / tool_choice / response_format field: OpenAI's message, param and code."""

    def __init__(self, message: str, param: str, code: str | None = "invalid_value"):
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


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
    _finite(params, f"function '{name}'", f"{where}.function.parameters")
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
    _finite(schema, f"response_format '{js['name']}'", "response_format")
    if schema.get("type") != "object":
        raise SchemaError(f"Invalid schema for response_format '{js['name']}': schema must be a JSON Schema of "
                          f"'type: \"object\"', got 'type: \"{schema.get('type')}\"'.", "response_format", None)
    return "json_schema", schema


def check(schema: object, strict: bool, where: str, param: str) -> None:
    """Raise SchemaError unless `schema` is in the supported subset (strict: OpenAI's strict rules too)."""
    root = schema if isinstance(schema, dict) else {}
    defs = {**root.get("definitions", {}), **root.get("$defs", {})}

    def bad(ctx: tuple, problem: str):
        raise SchemaError(f"Invalid schema for {where}: In context={ctx}, {problem}.", param, None)

    def walk(s: object, ctx: tuple) -> None:
        if not isinstance(s, dict):
            bad(ctx, "schema must be a JSON object")
        for k in s:
            if k not in KEYWORDS:
                bad(ctx, f"'{k}' is not permitted (the simulator supports the strict-mode subset)")
        if "$ref" in s:
            ref = s["$ref"]
            ok = isinstance(ref, str) and ref.startswith(("#/$defs/", "#/definitions/"))
            if not ok or ref.split("/")[-1] not in defs:
                bad(ctx, f"reference {json.dumps(ref)[:60]} can't be resolved")
            return
        types = s.get("type")
        types = [types] if isinstance(types, str) else types
        if types is not None and (not isinstance(types, list) or not types or not set(types) <= TYPES):
            bad(ctx, f"'type' must be one of {sorted(TYPES)} or a list of them")
        for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems"):
            if k in s and (isinstance(s[k], bool) or not isinstance(s[k], int if "Items" in k else (int, float))
                           or "Items" in k and s[k] < 0):
                bad(ctx, f"'{k}' must be a {'whole ' if 'Items' in k else ''}number")
        if "enum" in s and (not isinstance(s["enum"], list) or not s["enum"]):
            bad(ctx, "'enum' must be a non-empty array")
        if types and not all(_fits(v, types) for v in s.get("enum", []) + ([s["const"]] if "const" in s else [])):
            bad(ctx, f"'enum' and 'const' values must be of type {types}")
        for t in {"integer", "number"} & set(types or ()):
            lo, hi = _bounds(s, t)
            if (math.ceil(lo) > math.floor(hi)) if t == "integer" else lo > hi:
                bad(ctx, f"no {t} lies within its minimum and maximum")
        if s.get("minItems", 0) > s.get("maxItems", math.inf):
            bad(ctx, "'minItems' is greater than 'maxItems'")
        if types is None and not ({"enum", "const", "anyOf"} & set(s)) and s is not root:
            bad(ctx, "schema must have a 'type' key")
        for i, sub in enumerate(_list_or_bad(s.get("anyOf", []), ctx, bad)):
            walk(sub, (*ctx, "anyOf", i))
        if types and "object" in types:
            props = s.get("properties", {})
            if not isinstance(props, dict):
                bad(ctx, "'properties' must be an object")
            req = s.get("required", [])
            if not isinstance(req, list) or not set(req) <= set(props):
                bad(ctx, "'required' must be an array of keys in 'properties'")
            if strict and s.get("additionalProperties") is not False:
                bad(ctx, "'additionalProperties' is required to be supplied and to be false")
            if strict and set(req) != set(props):
                missing = sorted(set(props) - set(req))
                bad(ctx, "'required' is required to be supplied and to be an array including every key in "
                         f"properties. Missing '{missing[0]}'")
            for k, sub in props.items():
                walk(sub, (*ctx, "properties", k))
        if types and "array" in types:
            walk(s.get("items", {"type": "string"}), (*ctx, "items"))
        for name, sub in defs.items() if s is root else ():
            walk(sub, (*ctx, "$defs", name))

    walk(schema, ())


def _list_or_bad(v: object, ctx: tuple, bad) -> list:
    if not isinstance(v, list):
        bad(ctx, "'anyOf' must be an array")
    return v


def _bounds(schema: dict, kind: str) -> tuple[float, float]:
    """The range a number or integer may take (defaults 1..100 around any bound given)."""
    step = 1 if kind == "integer" else 0.01
    lo = max([schema[k] + d for k, d in (("minimum", 0), ("exclusiveMinimum", step)) if k in schema], default=None)
    hi = min([schema[k] - d for k, d in (("maximum", 0), ("exclusiveMaximum", step)) if k in schema], default=None)
    lo = lo if lo is not None else 1 if hi is None else hi - 99
    return lo, hi if hi is not None else lo + 99


_PY = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "null": type(None),
       "object": dict, "array": list}


def _fits(v: object, types: list) -> bool:
    return any(isinstance(v, _PY[t]) and not (isinstance(v, bool) and t in ("integer", "number")) for t in types)


def _finite(schema: dict, where: str, param: str) -> None:
    try:
        value(schema, random.Random(0), ["x"], {**schema.get("definitions", {}), **schema.get("$defs", {})})
    except SchemaError as e:
        raise SchemaError(f"Invalid schema for {where}: {e.message}.", param, None) from None


def value(schema: dict, rng: random.Random, words: list[str], defs: dict, depth: int = 0) -> object:
    """A deterministic value valid against `schema` (already `check`ed)."""
    if depth > MAX_DEPTH * 4:
        raise SchemaError("it has no finite value (a required field refers back to itself)", "")
    if "$ref" in schema:
        return value(defs[schema["$ref"].split("/")[-1]], rng, words, defs, depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return rng.choice(schema["enum"])
    if "anyOf" in schema:
        subs = schema["anyOf"]
        if depth >= MAX_DEPTH:  # deep in a recursive schema: end with a branch that has no $ref
            subs = [s for s in subs if "$ref" not in s] or subs
        else:  # an optional field (anyOf [X, null]) gets a value
            subs = [s for s in subs if s.get("type") != "null"] or subs
        return value(rng.choice(subs), rng, words, defs, depth + 1)
    types = schema.get("type", "object")
    types = [types] if isinstance(types, str) else types
    real = [t for t in types if t != "null"]
    if depth > MAX_DEPTH * 2 and "null" in types:
        return None
    kind = rng.choice(real) if real else "null"
    if kind == "object":
        props = schema.get("properties", {})
        return {k: value(sub, rng, words, defs, depth + 1) for k, sub in props.items()}
    if kind == "array":
        hi = schema.get("maxItems", max(3, schema.get("minItems", 0)))
        lo = schema.get("minItems", min(1, hi))
        n = schema.get("minItems", 0) if depth >= MAX_DEPTH else rng.randint(lo, max(lo, hi))
        return [value(schema.get("items", {"type": "string"}), rng, words, defs, depth + 1) for _ in range(n)]
    if kind in ("number", "integer"):
        lo, hi = _bounds(schema, kind)
        if kind == "integer":
            return rng.randint(math.ceil(lo), math.floor(hi))
        return min(hi, max(lo, round(rng.uniform(lo, hi), 2)))
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "string":
        return " ".join(rng.choice(words).split()[:rng.randint(4, 9)]).rstrip(" ,;:.") or "simulated"
    return None


def reply(spec: OutputSpec, messages: list[dict], prompt: str, seed: int, answer_text: str) -> Reply | None:
    """The structured answer to a request, or None when the answer is plain text."""
    rng = random.Random(int.from_bytes(hashlib.sha256(f"{seed}|{prompt}".encode()).digest()[:8], "big"))
    words = re.split(r"(?<=[.!?])\s+", answer_text.strip()) or ["simulated"]  # strings: a sentence's first words
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

