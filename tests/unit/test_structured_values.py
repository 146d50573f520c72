"""The simulator's schema checker and value generator (helpers/llm_server/structured.py), no server:
values are valid against the schema (jsonschema checks), deterministic, recursive schemas end,
Pydantic's schemas are accepted, and bad schemas are refused naming where."""
import json
import random
from enum import Enum
from typing import Literal

import jsonschema
import pytest
from pydantic import BaseModel

from helpers.llm_server import structured

WORDS = ["Streaming sends the answer piece by piece.", "The first words arrive early."]


def gen(schema, seed=0):
    structured.check(schema, False, "response_format 'T'", "response_format")
    defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    return structured.value(schema, random.Random(seed), WORDS, defs)


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


class Item(BaseModel):
    name: str
    qty: int
    colour: Colour


class Order(BaseModel):
    items: list[Item]
    note: str | None = None
    urgent: bool
    kind: Literal["web", "phone"]
    score: float


class Tree(BaseModel):
    label: str
    children: list["Tree"]


@pytest.mark.parametrize("model", [Order, Tree])
def test_pydantic_schemas_are_accepted_and_values_validate(model):
    schema = model.model_json_schema()
    for seed in range(20):
        v = gen(schema, seed)
        jsonschema.validate(v, schema)
        model.model_validate(v)
    assert gen(schema, 3) == gen(schema, 3)
    assert len({json.dumps(gen(schema, s)) for s in range(20)}) > 1


def test_recursive_schema_with_required_children_ends():
    schema = {"type": "object", "properties": {"next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}},
              "required": ["next"], "$defs": {}}
    schema["properties"]["next"]["anyOf"][0] = {"$ref": "#/$defs/node"}
    schema["$defs"]["node"] = {"type": "object", "properties": {"next": {"anyOf": [{"$ref": "#/$defs/node"},
                                                                                   {"type": "null"}]}},
                               "required": ["next"]}
    v = gen(schema)
    jsonschema.validate(v, schema)
    depth = 0
    while v is not None:
        v, depth = v["next"], depth + 1
    assert 1 < depth < 30


def test_bounds_and_type_lists():
    schema = {"type": "object", "properties": {
        "i": {"type": "integer", "exclusiveMinimum": 5, "maximum": 6},
        "x": {"type": "number", "minimum": -1, "exclusiveMaximum": 0},
        "n": {"type": ["integer", "null"]}, "c": {"const": "fixed"},
        "a": {"type": "array", "items": {"type": "boolean"}, "minItems": 5, "maxItems": 5}}}
    for seed in range(20):
        v = gen(schema, seed)
        jsonschema.validate(v, schema)
        assert v["i"] == 6 and -1 <= v["x"] < 0 and isinstance(v["n"], int) and len(v["a"]) == 5


@pytest.mark.parametrize("schema, context", [
    ({"type": "object", "properties": {"o": {"type": "object", "properties": {}, "required": []}},
      "required": ["o"], "additionalProperties": False}, "('properties', 'o')"),
    ({"type": "object", "properties": {"s": {"type": "string", "format": "date"}}, "required": ["s"],
      "additionalProperties": False}, "('properties', 's')"),
    ({"type": "object", "properties": {"s": {"type": "text"}}, "required": ["s"],
      "additionalProperties": False}, "('properties', 's')"),
    ({"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer", "minimum": "1"}}},
      "required": ["a"], "additionalProperties": False}, "('properties', 'a', 'items')"),
])
def test_strict_checks_name_where(schema, context):
    with pytest.raises(structured.SchemaError) as e:
        structured.check(schema, True, "response_format 'T'", "response_format")
    assert e.value.message.startswith(f"Invalid schema for response_format 'T': In context={context}, ")
    assert e.value.param == "response_format"


def test_a_schema_with_no_finite_value_is_refused():
    schema = {"type": "object", "properties": {"me": {"$ref": "#/$defs/me"}}, "required": ["me"],
              "$defs": {"me": {"type": "object", "properties": {"me": {"$ref": "#/$defs/me"}}, "required": ["me"]}}}
    body = {"messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "T", "schema": schema}}}
    with pytest.raises(structured.SchemaError) as e:
        structured.parse(body)
    assert e.value.message.startswith("Invalid schema for response_format 'T': it has no finite value")
    assert e.value.param == "response_format"
