"""The backend switch: clear one-line errors, explicit safe settings, keys never shown."""
import time

import openai
import pytest

from helpers import backends
from helpers.backends import BackendError, chat_model, mask, resolve_backend
from helpers.explain import explain

FAKE_KEY = "sk-test-abcdefghijklmnopqrstuvwxyz1234"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for v in ("LLM_BACKEND", "LLM_BASE_URL", "LLM_MODEL", "LLM_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL",
              "LLM_TIMEOUT", "LLM_ALLOW_OPENAI_URL"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setattr(backends, "ROOT", tmp_path)  # no .env from the repo
    monkeypatch.chdir(tmp_path)


def one_line(msg: str) -> bool:
    return "\n" not in msg and len(msg) < 300


def test_unknown_backend(monkeypatch):
    monkeypatch.setenv("LLM_BACKEND", "gpt5-please")
    with pytest.raises(BackendError) as e:
        resolve_backend()
    assert one_line(str(e.value)) and "sim, local, openai, compatible" in str(e.value)


def test_openai_without_key():
    with pytest.raises(BackendError, match="OPENAI_API_KEY") as e:
        resolve_backend("openai")
    assert one_line(str(e.value))


def test_compatible_needs_url_and_model(monkeypatch):
    monkeypatch.setenv("LLM_BACKEND", "compatible")
    with pytest.raises(BackendError, match="LLM_BASE_URL"):
        chat_model()


def test_unreachable_endpoint_fails_fast(monkeypatch):
    monkeypatch.setenv("LLM_BACKEND", "compatible")
    monkeypatch.setenv("LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("LLM_MODEL", "m")
    t0 = time.perf_counter()
    with pytest.raises(BackendError, match="Cannot reach") as e:
        chat_model()
    assert time.perf_counter() - t0 < 5 and one_line(str(e.value))


def test_wrong_model_name_lists_models(monkeypatch, sim):
    monkeypatch.setenv("LLM_BACKEND", "compatible")
    monkeypatch.setenv("LLM_BASE_URL", sim.base_url)
    monkeypatch.setenv("LLM_MODEL", "gpt-typo")
    with pytest.raises(BackendError, match="no model 'gpt-typo'.*sim"):
        chat_model()


def test_dotenv_is_read(tmp_path, monkeypatch, sim):
    (tmp_path / ".env").write_text(f"LLM_BACKEND=compatible\nLLM_BASE_URL={sim.base_url}\n"
                                   f"LLM_MODEL=sim\nLLM_API_KEY={FAKE_KEY}\n")
    b = resolve_backend()
    assert b.name == "compatible" and b.model == "sim" and b.api_key == FAKE_KEY


def test_chat_model_sets_safe_defaults(sim_env):
    m = chat_model()
    assert m.max_retries == 2 and m.stream_usage is True
    assert m.request_timeout.read == 60 and m.request_timeout.connect == 5
    assert m.root_client.timeout.read == 60  # really passed to the SDK (its default is None via LangChain)


def test_keys_are_masked_everywhere(monkeypatch, sim):
    monkeypatch.setenv("LLM_BACKEND", "compatible")
    monkeypatch.setenv("LLM_BASE_URL", sim.base_url)
    monkeypatch.setenv("LLM_MODEL", "sim")
    monkeypatch.setenv("LLM_API_KEY", FAKE_KEY)
    b = resolve_backend()
    m = chat_model()
    for text in (repr(b), str(b), repr(m), str(m)):
        assert FAKE_KEY not in text
    assert mask(FAKE_KEY) == "sk-…1234" and mask(FAKE_KEY) in repr(b)
    assert FAKE_KEY not in explain(openai.APIError(f"bad key {FAKE_KEY}", request=None, body=None))


def test_explain_gives_one_line_advice(monkeypatch):
    import httpx2
    req = httpx2.Request("POST", "http://x/v1/chat/completions")
    monkeypatch.setenv("LLM_BACKEND", "compatible")
    cases = {
        openai.APITimeoutError(req): "timed out",
        openai.APIConnectionError(request=req): "Could not reach",
        openai.RateLimitError("429", response=httpx2.Response(429, request=req), body=None): "max_concurrency",
        openai.NotFoundError("nope", response=httpx2.Response(404, request=req), body=None): "LLM_MODEL",
        BackendError("x: do y"): "x: do y",
    }
    for exc, words in cases.items():
        line = explain(exc)
        assert words in line and one_line(line)


def test_backend_errors_are_also_value_checked(sim_env):
    with pytest.raises(ValueError):
        chat_model(timeout=0)
    with pytest.raises(ValueError):
        chat_model(max_retries=-1)


def test_openai_key_never_follows_another_servers_url(monkeypatch):
    monkeypatch.setenv("LLM_BASE_URL", "http://127.0.0.1:9999/v1")  # left over from `compatible`
    monkeypatch.setenv("LLM_API_KEY", "classroom-token:alice")
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    b = resolve_backend("openai")
    assert b.base_url == "https://api.openai.com/v1" and b.api_key == FAKE_KEY
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(BackendError, match="OPENAI_API_KEY"):
        resolve_backend("openai")  # LLM_API_KEY is not an OpenAI key


def test_stall_limit_follows_the_sdk_backoff():
    assert backends.stall_limit_s(60, 2) == 181.5     # 3 attempts x 60 s + 0.5 s + 1 s
    assert backends.stall_limit_s(60, 0) == 60
    assert backends.stall_limit_s(10, 6) == 70 + 0.5 + 1 + 2 + 4 + 8 + 8


def test_a_stalled_server_fails_after_every_attempt_waited_and_within_the_stated_limit():
    """timeout= bounds each wait, and the SDK retries after a timeout: the call lasts about
    (max_retries + 1) x timeout, never forever and never just one timeout."""
    from helpers import start_simulator

    srv = start_simulator()
    llm = chat_model(timeout=0.6, max_retries=1, default_headers={"X-Sim-Fault": "stall"})
    before = srv.stats()["requests_total"]
    t0 = time.perf_counter()
    with pytest.raises(openai.APITimeoutError):
        llm.invoke("hello")
    elapsed = time.perf_counter() - t0
    assert srv.stats()["requests_total"] - before == 2           # both attempts reached the server
    assert elapsed >= 2 * 0.6                                    # each attempt waited its timeout
    assert elapsed <= backends.stall_limit_s(0.6, 1) + 10        # bounded (generous for a busy CPU)


@pytest.mark.parametrize("url", ["http://api.openai.com/v1", "https://another-host.example/v1",
                                 "http://127.0.0.1:9/v1"])
def test_openai_key_never_follows_a_stray_openai_base_url(monkeypatch, url):
    monkeypatch.setenv("LLM_BACKEND", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    with pytest.raises(BackendError) as e:
        resolve_backend()
    assert one_line(str(e.value)) and "LLM_ALLOW_OPENAI_URL=1" in str(e.value)
    assert FAKE_KEY not in str(e.value)
    monkeypatch.setenv("LLM_ALLOW_OPENAI_URL", "1")       # the learner says they mean it
    assert resolve_backend().base_url == url.rstrip("/")


def test_openai_default_and_official_url_are_accepted(monkeypatch):
    monkeypatch.setenv("LLM_BACKEND", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    assert resolve_backend().base_url == "https://api.openai.com/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.openai.com/v1/")
    assert resolve_backend().base_url == "https://api.openai.com/v1"


def _status_error(cls, code: int, message: str):
    import httpx
    response = httpx.Response(code, request=httpx.Request("POST", "http://127.0.0.1/v1/chat/completions"))
    return cls(message, response=response, body=None)


def test_explain_redacts_the_whole_message_before_cutting_it(monkeypatch):
    long_key = "sk-proj-" + "A1b2C3d4" * 20                 # 168 characters: longer than the cut
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)     # a key the course never saw
    line = explain(_status_error(openai.BadRequestError, 400, f"Incorrect API key provided: {long_key}."))
    assert "A1b2C3d4A1b2" not in line and "sk-…" in line


def test_explain_never_raises_even_when_the_error_cannot_be_printed():
    class Unprintable(openai.APIError):
        def __str__(self):
            raise RuntimeError("no")
    err = Unprintable.__new__(Unprintable)
    line = explain(err)
    assert "Unprintable" in line and one_line(line)


def test_explain_says_a_quota_429_is_not_fixed_by_retrying():
    line = explain(_status_error(openai.RateLimitError, 429,
                                 "Error code: 429 - {'error': {'code': 'insufficient_quota'}}"))
    assert "retrying will not help" in line
    plain = explain(_status_error(openai.RateLimitError, 429, "Error code: 429 - rate limit"))
    assert "retrying will not help" not in plain and "max_concurrency" in plain
