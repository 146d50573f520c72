"""The JSON Schema subset OpenAI's strict mode allows: checking a schema, and making a
deterministic value valid against it (for the simulator's structured answers, structured.py).

Supported: object (properties, required, additionalProperties), string, number, integer,
boolean, null, enum, const, array (items, minItems, maxItems), (exclusive) minimum/maximum,
nullable as a type list, anyOf, $defs and $ref -- plus title/description/default/examples/
$comment, which change nothing. Any other keyword, bounds no value fits, enum values of the
wrong type, or a schema with no finite value is refused (SchemaError, a 400). With strict,
every object must list every property in `required` and set additionalProperties false, as
OpenAI checks.

Values: strings are whole sentences from `words` (never cut mid-phrase); numbers within the bounds
(1..100 by default); arrays 1..3 items unless bounded; optional fields (anyOf [X, null]) get
an X. Recursive schemas end: past MAX_DEPTH, arrays are empty and anyOf avoids $ref.
"""
from __future__ import annotations

import json
import math
import random

ANNOTATIONS = {"title", "description", "default", "examples", "$comment"}
KEYWORDS = {"type", "properties", "required", "additionalProperties", "items", "enum", "const", "anyOf",
            "$defs", "definitions", "$ref", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
            "minItems", "maxItems"} | ANNOTATIONS
TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}
MAX_DEPTH = 8


class SchemaError(ValueError):
    """A bad tools / tool_choice / response_format field: OpenAI's message, param and code."""

    def __init__(self, message: str, param: str, code: str | None = "invalid_value"):
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


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


def finite(schema: dict, where: str, param: str) -> None:
    """Refuse (SchemaError) a schema no finite value fits (a required field that refers back to itself)."""
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
        first = rng.choice(subs)
        for sub in [first] + [s for s in subs if s is not first]:  # a branch with no finite value: try the next
            try:
                return value(sub, rng, words, defs, depth + 1)
            except SchemaError:
                continue
        raise SchemaError("it has no finite value (a required field refers back to itself)", "")
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
        return rng.choice(_whole(words))
    return None


def _whole(words: list[str]) -> list[str]:
    """The whole sentences among `words` (those ending in . ! or ?), else the answer's words
    joined (an answer cut to N words ends without a stop), else "simulated"."""
    whole = [w.strip() for w in words if w.strip().endswith((".", "!", "?"))]
    return whole or [" ".join(w.strip() for w in words if w.strip()) or "simulated"]
