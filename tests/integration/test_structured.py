"""Streams without text: tool calls and structured output from the simulator, over real HTTP.

Wire shapes (checked against openai.types.chat.chat_completion_chunk and langchain_openai's
_convert_delta_to_message_chunk), deterministic schema-valid answers, OpenAI-shaped 400s,
ChatOpenAI's with_structured_output / bind_tools streams, and the course's TTFT rule
"time to first output" (helpers.metrics_live.is_output) on these streams.
"""
import json
import threading
import time
from typing import Annotated, Literal, TypedDict

import httpx
import jsonschema
import openai
import pytest
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

from helpers.metrics import RequestRecord
from helpers.metrics_live import is_output
from tests.support.waiting import wait_for

USER = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER = {"type": "object", "additionalProperties": False, "required": ["city", "unit", "days"],
           "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]},
                          "days": {"type": "integer", "minimum": 1, "maximum": 7}}}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city.",
                                           "parameters": WEATHER, "strict": True}},
         {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}]
RICH = {"type": "object", "additionalProperties": False,
        "required": ["title", "tags", "score", "owner", "kind", "note"],
        "properties": {"title": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"},
                                                             "minItems": 2, "maxItems": 4},
                       "score": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                       "owner": {"$ref": "#/$defs/person"}, "kind": {"anyOf": [{"type": "boolean"},
                                                                              {"type": "null"}]},
                       "note": {"type": ["string", "null"]}},
        "$defs": {"person": {"type": "object", "additionalProperties": False, "required": ["name", "age"],
                             "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}}}}


def fmt(schema, name="Thing", strict=True):
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": strict}}


@pytest.fixture
def client(sim):
    return openai.OpenAI(base_url=sim.base_url, api_key="test-key", timeout=10, max_retries=0)


def lc(sim, **kw):
    return ChatOpenAI(base_url=sim.base_url, api_key="test-key", model="sim", stream_usage=True,
                      max_retries=0, timeout=10, **kw)


def deltas(client, **kw):
    chunks = list(client.chat.completions.create(model="sim", stream=True, stream_options={"include_usage": True},
                                                 **kw))
    return [c for c in chunks if c.choices], chunks[-1].usage


def test_tool_call_streams_in_openai_shape(client):
    chunks, usage = deltas(client, messages=USER, tools=TOOLS)
    first = chunks[0].choices[0].delta
    call = first.tool_calls[0]
    assert first.role == "assistant" and not first.content
    assert (call.index, call.type, call.function.name, call.function.arguments) == (0, "function", "get_weather", "")
    assert call.id.startswith("call_")
    frags = [c.choices[0].delta.tool_calls[0] for c in chunks[1:-1]]
    assert all(f.id is None and f.function.name is None and f.index == 0 and f.function.arguments for f in frags)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    args = "".join(f.function.arguments for f in frags)
    assert len(frags) > 5 and usage.completion_tokens == len(frags)  # one token per fragment, all billed
    jsonschema.validate(json.loads(args), WEATHER)
    whole = client.chat.completions.create(model="sim", messages=USER, tools=TOOLS).choices[0]
    assert whole.finish_reason == "tool_calls" and whole.message.content is None
    assert whole.message.tool_calls[0].function.arguments == args and whole.message.tool_calls[0].id == call.id


def test_json_schema_streams_as_content_and_is_valid_and_deterministic(client):
    chunks, usage = deltas(client, messages=USER, response_format=fmt(RICH))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    value = json.loads(text)
    jsonschema.validate(value, RICH)
    assert value["kind"] is not None and value["note"] is not None  # optional fields get values
    assert sum(bool(c.choices[0].delta.content) for c in chunks) == usage.completion_tokens > 20
    assert chunks[-1].choices[0].finish_reason == "stop"
    again = client.chat.completions.create(model="sim", messages=USER, response_format=fmt(RICH))
    assert again.choices[0].message.content == text
    other = client.chat.completions.create(model="sim", messages=[{"role": "user", "content": "Explain batching"}],
                                           response_format=fmt(RICH))
    assert other.choices[0].message.content != text  # seeded by the prompt, like the text


@pytest.mark.parametrize("choice, last_role, expect", [
    ("none", "user", None), ("auto", "user", "get_weather"), ("auto", "tool", None),
    ("required", "tool", "get_weather"), ({"type": "function", "function": {"name": "get_time"}}, "user", "get_time"),
])
def test_tool_choice(client, choice, last_role, expect):
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    msgs = USER if last_role == "user" else USER + [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
    r = client.chat.completions.create(model="sim", messages=msgs, tools=TOOLS, tool_choice=choice).choices[0]
    if expect is None:
        assert r.finish_reason == "stop" and r.message.content and not r.message.tool_calls
    else:
        assert r.finish_reason == "tool_calls" and r.message.tool_calls[0].function.name == expect


def test_auto_calls_the_tool_the_prompt_names(client):
    r = client.chat.completions.create(model="sim", messages=[{"role": "user", "content": "Use get_time please"}],
                                       tools=TOOLS)
    assert r.choices[0].message.tool_calls[0].function.name == "get_time"
    assert json.loads(r.choices[0].message.tool_calls[0].function.arguments) == {}


def test_json_object_mode_uses_the_quoted_keys(client):
    msg = [{"role": "user", "content": "A joke as JSON with 'setup' and 'punchline' keys."}]
    r = client.chat.completions.create(model="sim", messages=msg, response_format={"type": "json_object"})
    assert set(json.loads(r.choices[0].message.content)) == {"setup", "punchline"}


def test_max_tokens_cuts_the_json_and_says_length(client):
    r = client.chat.completions.create(model="sim", messages=USER, tools=TOOLS, max_tokens=4).choices[0]
    assert r.finish_reason == "length" and r.message.tool_calls[0].function.arguments == '{"city"'


BAD = [  # (body changes, param, code, message start)
    ({"response_format": fmt({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]})},
     "response_format", None, "Invalid schema for response_format 'Thing': In context=(), 'additionalProperties'"),
    ({"response_format": fmt({"type": "object", "properties": {"a": {"type": "string"}},
                              "additionalProperties": False})},
     "response_format", None, "Invalid schema for response_format 'Thing': In context=(), 'required' is required"),
    ({"response_format": fmt({"type": "object", "properties": {"a": {"type": "string", "pattern": "x"}},
                              "required": ["a"], "additionalProperties": False})},
     "response_format", None, "Invalid schema for response_format 'Thing': In context=('properties', 'a'), "
                              "'pattern' is not permitted"),
    ({"response_format": fmt({"type": "object", "properties": {"a": {"$ref": "#/$defs/nope"}}}, strict=False)},
     "response_format", None, "Invalid schema for response_format 'Thing'"),
    ({"response_format": fmt({"type": "string"}, strict=False)}, "response_format", None,
     "Invalid schema for response_format 'Thing': schema must be a JSON Schema of 'type: \"object\"'"),
    ({"tools": [{"type": "function", "function": {"parameters": WEATHER}}]}, "tools[0].function.name",
     "missing_required_parameter", "Missing required parameter: 'tools[0].function.name'."),
    ({"tools": TOOLS[:1], "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice",
     "invalid_value", "Invalid value for 'tool_choice'"),
    ({"tool_choice": "auto"}, "tool_choice", "invalid_value", "Invalid value for 'tool_choice'"),
    ({"response_format": {"type": "json_object"}}, "messages", None, "'messages' must contain the word 'json'"),
]


@pytest.mark.parametrize("change, param, code, start", BAD)
def test_bad_schemas_and_tools_get_openai_shaped_400s(sim, change, param, code, start):
    r = httpx.post(sim.base_url + "/chat/completions", json={"model": "sim", "messages": USER, **change},
                   headers={"Authorization": "Bearer test-key"}, timeout=10)
    assert r.status_code == 400
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["type"] == "invalid_request_error"
    assert (err["param"], err["code"]) == (param, code) and err["message"].startswith(start), err


class Joke(BaseModel):
    """A joke."""
    setup: str = Field(description="question")
    punchline: str = Field(description="answer")


class JokeDict(TypedDict):
    """A joke."""
    setup: Annotated[str, ..., "question"]
    punchline: Annotated[str, ..., "answer"]
    mood: Literal["dry", "silly"]


def grows(outs, as_dict=lambda o: o):
    """Each partial object extends the one before: same keys kept, strings only lengthen."""
    prev = {}
    for o in map(as_dict, outs):
        assert set(prev) <= set(o)
        assert all(str(o[k]).startswith(str(v)) for k, v in prev.items() if isinstance(v, str))
        prev = o
    return prev


def test_with_structured_output_streams_growing_partial_objects(sim):
    m = lc(sim)
    outs = list(m.with_structured_output(JokeDict).stream("Tell me a joke about cats"))  # default: json_schema
    assert len(outs) > 10 and grows(outs) == m.with_structured_output(JokeDict).invoke("Tell me a joke about cats")
    assert set(outs[-1]) == {"setup", "punchline", "mood"} and outs[-1]["mood"] in ("dry", "silly")
    for v in (outs[-1]["setup"], outs[-1]["punchline"]):   # whole sentences, never "...in an application is"
        assert v.endswith((".", "!", "?")), v
    fc = list(m.with_structured_output(Joke, method="function_calling").stream("Tell me a joke about cats"))
    assert len(fc) > 3 and all(isinstance(o, Joke) for o in fc)
    assert grows(fc, lambda o: o.model_dump()) == fc[-1].model_dump() and fc[-1].punchline
    assert all(is_output(o) == bool(o) for o in outs) and all(map(is_output, fc))  # partial dicts and objects


def test_bind_tools_stream_yields_tool_call_chunks(sim):
    chunks = list(lc(sim).bind_tools(TOOLS).stream("What is the weather in Paris?"))
    tcc = [c.tool_call_chunks[0] for c in chunks if c.tool_call_chunks]
    assert tcc[0]["name"] == "get_weather" and tcc[0]["id"].startswith("call_") and tcc[0]["args"] == ""
    assert all(t["name"] is None and t["args"] for t in tcc[1:])
    full = chunks[0]
    for c in chunks[1:]:
        full = full + c
    assert not full.content and full.response_metadata["finish_reason"] == "tool_calls"
    jsonschema.validate(full.tool_calls[0]["args"], WEATHER)
    assert full.usage_metadata["output_tokens"] == len(tcc) - 1  # the argument fragments


def text_only_ttft(times, chunks, end):
    """The old rule: the first chunk with text content, else the end of the stream."""
    return next((t for t, c in zip(times, chunks) if isinstance(getattr(c, "content", None), str) and c.content),
                end)


@pytest.mark.parametrize("kind", ["tool_call", "structured"])
def test_time_to_first_output_is_the_first_delta_not_the_end(sim, kind):
    """The stream is held at the server after 8 tokens: the first output has arrived, the end
    cannot have. Time to first output lands before the release; the text-only rule after it."""
    name = f"ttfo-{kind}"
    model = lc(sim, default_headers={"X-Sim-Fault": f"hold:{name}:8"})
    runnable = model.bind_tools(TOOLS) if kind == "tool_call" else model.with_structured_output(JokeDict)
    got_output, times, chunks, t0 = threading.Event(), [], [], time.perf_counter()

    errors = []

    def consume():
        try:
            for c in runnable.stream("What is the weather in Paris?"):
                times.append(time.perf_counter() - t0)
                chunks.append(c)
                if is_output(c):
                    got_output.set()
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)
            got_output.set()

    th = threading.Thread(target=consume)
    th.start()
    wait_for("the held stream's first output", lambda: got_output.is_set() and sim.stats()["held"].get(name))
    t_release = time.perf_counter() - t0
    httpx.post(sim.base_url + "/sim/release", json={"name": name}, timeout=5)
    th.join(30)
    end = time.perf_counter() - t0
    assert not th.is_alive() and not errors, errors
    record = RequestRecord(0.0, tuple(t for t, c in zip(times, chunks) if is_output(c)), end)
    assert record.ttft_s is not None and record.ttft_s < t_release  # the real first delta
    assert text_only_ttft(times, chunks, end) > t_release            # the old rule: the end of the stream
    assert record.n_out == len(record.piece_times_s) > 3 and record.unit == "chunks"
