"""The simulator's /v1/embeddings (lesson 05), over real loopback HTTP.

Hashed bag-of-words vectors: deterministic, texts that share words are close,
a list of inputs keeps its order, `dimensions` is honoured, and bad input gets
OpenAI's error shape. Then the same endpoint through `OpenAIEmbeddings` from
`helpers.embeddings_model()`, which must never reach beyond loopback (no tokenizer download).
"""
from __future__ import annotations

import asyncio
import base64
import math
import socket
import struct
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from helpers import embeddings_model, rag  # noqa: E402
from helpers.backends import Backend  # noqa: E402
from helpers.lessons.rag import cosine  # noqa: E402

REFUND = "Refunds are issued within 7 business days."


@pytest.fixture
def url(sim_env):
    return sim_env.base_url + "/embeddings"


def post(url, body, **kw):
    return httpx.post(url, json=body, timeout=10, **kw)


def vectors(url, inputs, **extra):
    r = post(url, {"model": "sim", "input": inputs, "encoding_format": "float", **extra})
    assert r.status_code == 200, r.text
    return [d["embedding"] for d in r.json()["data"]]


# ---- what the vectors are -------------------------------------------------------------------

def test_deterministic_and_unit_length(url):
    a, b = vectors(url, REFUND)[0], vectors(url, REFUND)[0]
    assert a == b
    assert math.isclose(sum(x * x for x in a), 1.0, rel_tol=1e-6)


def test_texts_sharing_words_are_closer_than_unrelated_ones(url):
    ref, same, other = vectors(url, [REFUND, "When are refunds issued?", "Which Wi-Fi band does the lamp need?"])
    assert cosine(ref, same) > cosine(ref, other) + 0.1


def test_no_synonyms_only_shared_words(url):
    ref, synonym = vectors(url, [REFUND, "How soon do I get my money back?"])
    assert abs(cosine(ref, synonym)) < 0.1


def test_list_input_keeps_order_and_matches_single_requests(url):
    texts = [f"lamp number {i} has {i * 7} lumens" for i in range(6)]
    r = post(url, {"model": "sim", "input": texts, "encoding_format": "float"})
    body = r.json()
    assert [d["index"] for d in body["data"]] == list(range(6))
    assert body["object"] == "list" and body["model"] == "sim"
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 0
    assert [d["embedding"] for d in body["data"]] == [vectors(url, t)[0] for t in texts]


@pytest.mark.parametrize("dims", [1, 8, 256, 1024, 4096])
def test_dimensions_honoured(url, dims):
    assert len(vectors(url, REFUND, dimensions=dims)[0]) == dims


def test_default_is_256_numbers(url):
    assert len(vectors(url, REFUND)[0]) == 256


def test_base64_encoding_decodes_to_the_same_floats(url):
    r = post(url, {"model": "sim", "input": REFUND, "encoding_format": "base64"})
    raw = base64.b64decode(r.json()["data"][0]["embedding"])
    decoded = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert decoded == pytest.approx(vectors(url, REFUND)[0], abs=1e-6)


def test_token_id_lists_are_accepted(url):
    assert len(vectors(url, [[1, 2, 3], [4, 5]])) == 2


# ---- bad input: OpenAI's error shape ---------------------------------------------------------

def assert_openai_error(r, status):
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert isinstance(err["message"], str) and err["message"]
    return err


@pytest.mark.parametrize("body, param", [
    ({"model": "sim", "input": []}, "input"),
    ({"model": "sim", "input": ""}, "input"),
    ({"model": "sim", "input": ["ok", ""]}, "input"),
    ({"model": "sim", "input": ["ok", 3.5]}, "input"),
    ({"model": "sim", "input": [None]}, "input"),
    ({"model": "sim", "input": [{"text": "x"}]}, "input"),
    ({"model": "sim", "input": 42}, "input"),
    ({"model": "sim", "input": {"a": 1}}, "input"),
    ({"model": "sim"}, "input"),
    ({"model": "sim", "input": ["x"] * 2049}, "input"),
    ({"model": "sim", "input": "x", "dimensions": 0}, "dimensions"),
    ({"model": "sim", "input": "x", "dimensions": "64"}, "dimensions"),
    ({"model": "sim", "input": "x", "dimensions": True}, "dimensions"),
    ({"model": "sim", "input": "x", "encoding_format": "hex"}, "encoding_format"),
    ({"input": "x"}, "model"),
    ({"model": 7, "input": "x"}, "model"),
])
def test_bad_input_is_a_400_naming_the_field(url, body, param):
    err = assert_openai_error(post(url, body), 400)
    assert err["param"] == param and err["type"] == "invalid_request_error"


def test_unknown_model_is_a_404(url):
    err = assert_openai_error(post(url, {"model": "text-embedding-9", "input": "x"}), 404)
    assert err["code"] == "model_not_found" and err["param"] == "model"


@pytest.mark.parametrize("content", [b"not json", b"[1, 2]"])
def test_body_that_is_not_a_json_object_is_a_400(url, content):
    r = httpx.post(url, content=content, headers={"content-type": "application/json"}, timeout=10)
    assert_openai_error(r, 400)


# ---- through OpenAIEmbeddings ----------------------------------------------------------------

@pytest.fixture
def loopback_only(monkeypatch, tmp_path):
    """Fail any connection that leaves this machine, and give tiktoken an empty cache to fill."""
    real_connect = socket.socket.connect

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"network access to {address!r}")
        return real_connect(self, address)

    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"name lookup for {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))
    return tmp_path / "tiktoken"


def test_openai_embeddings_match_the_endpoint_and_stay_on_loopback(url, loopback_only):
    emb = embeddings_model()
    assert emb.check_embedding_ctx_length is False and emb.openai_api_base + "/embeddings" == url
    texts = [REFUND, "When are refunds issued?", "Which Wi-Fi band does the lamp need?"]
    got = emb.embed_documents(texts, chunk_size=2)      # two requests: 2 texts, then 1
    np.testing.assert_allclose(got, vectors(url, texts), atol=1e-6)
    np.testing.assert_allclose(emb.embed_query(REFUND), got[0], atol=1e-6)
    assert not loopback_only.exists() or not any(loopback_only.iterdir())


def test_async_embeddings_match_too(url, loopback_only):
    emb = embeddings_model(dimensions=64)
    got = asyncio.run(emb.aembed_documents(["a lamp", "a warm lamp"]))   # one event loop in a script
    assert [len(v) for v in got] == [64, 64]
    np.testing.assert_allclose(got, vectors(url, ["a lamp", "a warm lamp"], dimensions=64), atol=1e-6)


def test_lesson_embeddings_ask_the_simulator_for_1024_numbers(sim_env, loopback_only):
    emb = rag.lesson_embeddings()
    assert emb.dimensions == rag.SIM_DIMENSIONS == 1024
    assert len(emb.embed_query("lamp")) == 1024


def test_lesson_embeddings_fall_back_to_the_simulator_on_local(sim_env, monkeypatch, capsys):
    from helpers import backends

    monkeypatch.setattr(backends, "resolve_backend",
                        lambda name=None: Backend("local", "http://127.0.0.1:9/v1", "smollm2", "not-needed"))
    emb = rag.lesson_embeddings()
    assert "simulator's embeddings" in capsys.readouterr().out
    assert emb.openai_api_base == sim_env.base_url and len(emb.embed_query("lamp")) == 1024


def test_lesson_embeddings_on_a_compatible_server_without_an_embeddings_model(sim_env, monkeypatch, capsys):
    from helpers import backends

    monkeypatch.delenv("LLM_EMBED_MODEL", raising=False)
    monkeypatch.setattr(backends, "resolve_backend",
                        lambda name=None: Backend("compatible", "http://127.0.0.1:9/v1", "llama3.2", "k"))
    emb = rag.lesson_embeddings()
    assert "LLM_EMBED_MODEL" in capsys.readouterr().out
    assert emb.openai_api_base == sim_env.base_url and len(emb.embed_query("lamp")) == 1024
