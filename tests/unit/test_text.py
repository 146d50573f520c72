"""The simulator's answer text: deterministic, on topic, sized as asked, never stuck repeating,
cut by max_tokens at a sentence end (or a clean word end), and the same whether streamed or not."""
import re

import openai
import pytest
from langchain_openai import ChatOpenAI

from helpers.llm_server import text


def ask(prompt, **kw):
    return text.answer([{"role": "user", "content": prompt}], **kw)


def words(answer):
    return len(answer.split())


def sentences(answer):
    return re.split(r"(?<=[.!?]) ", answer)


def test_on_topic_and_deterministic():
    assert "Streaming" in ask("Explain streaming") and ask("Explain streaming") == ask("Explain streaming")
    assert "batch" in ask("How does batch work?").lower()
    assert ask("Tell me about gardening tools").startswith(("Here is", "Good question", "Let us"))


def known_sentence(s):
    """A whole sentence of the simulator's bank (never a cut one given a full stop)."""
    bank = {x for _, t in text.TOPICS for x in text.sentences(t)} | set(text.GENERIC_SENTENCES) \
        | set(text.GREETING) | {x for xs in text.FILLERS.values() for x in xs}
    openers = [re.escape(o).replace(re.escape("{topic}"), ".+") for o in text.GENERIC_OPENERS]
    return s in bank or any(re.fullmatch(o, s) for o in openers)


def assert_no_invented_stop(a):
    """Every sentence that ends with a stop is a whole one; an unfinished tail is a sentence's first words."""
    parts = sentences(a)
    for s in parts[:-1] if not a.endswith((".", "!", "?")) else parts:
        assert known_sentence(s), f"cut sentence given a stop: {s!r} in {a!r}"
    if not a.endswith((".", "!", "?")):
        tail = parts[-1]
        bank = [x for _, t in text.TOPICS for x in text.sentences(t)] + text.GENERIC_SENTENCES
        heads = [o.split("{topic}")[0] for o in text.GENERIC_OPENERS]
        assert any(x.startswith(tail) for x in bank) or any(h.startswith(tail) or tail.startswith(h)
                                                            for h in heads), a
        assert not tail.endswith((",", ";", ":")), a


@pytest.mark.parametrize("prompt", ["Say hello in five words.", "Say hello in 5 words",
                                    "Explain streaming in five words", "Describe a kettle in five words"])
def test_in_five_words_is_five_words(prompt):
    a = ask(prompt)
    assert words(a) == 5
    assert_no_invented_stop(a)
    if a.endswith("."):  # the punctuation is tokens too: "5" is not the token count
        assert text.count_tokens(a) != 5


@pytest.mark.parametrize("prompt", ["Explain batching in two words.", "Explain retrieval in 1 word.",
                                    "Explain batching in 9 words.", "Explain retrieval in 14 words."])
def test_a_cut_sentence_gets_no_invented_full_stop(prompt):
    a = ask(prompt)   # once "Batching sends." and "In LangChain." -- cut sentences given a full stop
    assert_no_invented_stop(a)


def test_say_hello_in_five_words_is_a_greeting():
    assert ask("Say hello in five words.") == "Hello! Nice to meet you."


@pytest.mark.parametrize("n", [1, 2, 3, 7, 12, 13, 19, 20, 25, 60, 300])
@pytest.mark.parametrize("topic", ["streaming", "gardening tools", "retrieval"])
def test_in_n_words_is_exactly_n_words(n, topic):
    spelled = {1: "one", 2: "two", 3: "three", 7: "seven", 12: "twelve", 13: "thirteen",
               19: "nineteen", 20: "twenty"}
    for number in {str(n), spelled.get(n, str(n))}:
        a = ask(f"Explain {topic} in {number} words.")
        assert words(a) == n, a
        assert_no_invented_stop(a)
        if n >= 20:   # longer than any first sentence: whole sentences only
            assert a.endswith("."), a


@pytest.mark.parametrize("prompt", ["Explain streaming in one sentence.", "Explain retries in one sentence.",
                                    "Explain caching in a single sentence", "Explain latency in one line"])
def test_one_sentence_is_one_sentence(prompt):
    a = ask(prompt)
    assert len(sentences(a)) == 1 and a.endswith(".") and words(a) >= 5


def test_n_sentences():
    for number, n in (("two", 2), ("3", 3), ("seven", 7)):
        assert len(sentences(ask(f"Explain batching in {number} sentences."))) == n


@pytest.mark.parametrize("topic", ["streaming", "invoke", "latency", "gardening tools"])
def test_briefly_is_shorter_and_in_detail_longer_than_the_default(topic):
    default = text.count_tokens(ask(f"Explain {topic}."))
    for brief in (f"Explain {topic} briefly.", f"Give a short answer: {topic}?"):
        assert text.count_tokens(ask(brief)) < default
    detail = ask(f"Explain {topic} in detail.")
    assert text.count_tokens(detail) > default and text.count_tokens(detail) >= text.DETAIL_TOKENS
    assert detail.endswith(".")


def test_no_length_instruction_keeps_the_default():
    assert text.count_tokens(ask("How long is the warranty?")) < 120  # "long" alone asks for no length
    assert text.length_request("How long is the warranty?") is None
    assert text.length_request("Shorter prompts cost less, why?") is None  # "shorter" is not "short"


@pytest.mark.parametrize("prompt", ["Explain streaming in five words", "Explain retries in one sentence.",
                                    "Explain invoke briefly", "Explain caching in detail.",
                                    "Explain timeouts in 300 words."])
def test_same_prompt_and_seed_same_answer(prompt):
    assert ask(prompt) == ask(prompt) == ask(prompt, seed=0)
    assert ask(prompt, seed=3, temperature=1) == ask(prompt, seed=3, temperature=1)


@pytest.mark.parametrize("prompt", ["Explain streaming in 400 words", "Explain timeouts in 2000 words.",
                                    "Tell me about gardening tools in detail", "Explain rag in 20 sentences"])
def test_long_answers_do_not_repeat_a_sentence_back_to_back(prompt):
    s = sentences(ask(prompt))
    assert len(s) > 5 and all(a != b for a, b in zip(s, s[1:]))


def test_limit_ends_at_the_last_whole_sentence():
    full = ask("Explain streaming")
    first = text.count_tokens(sentences(full)[0])
    for m in (first, first + 1, first + 10, 40, 60, 80, text.count_tokens(full) - 1):
        toks, why = text.apply_limits(full, m, [])
        cut = "".join(toks).strip()
        assert why == "length" and len(toks) <= m and cut.endswith(".") and full.startswith(cut)
        # the longest whole-sentence prefix that fits: one more sentence would not
        n_sent = len(sentences(cut))
        assert text.count_tokens(" ".join(sentences(full)[:n_sent + 1])) > m


def test_limit_below_one_sentence_ends_on_a_whole_word():
    full = "Streaming sends the answer, piece by piece, while the model writes it."
    for m in range(1, text.count_tokens(full)):
        toks, why = text.apply_limits(full, m, [])
        cut = "".join(toks).strip()
        assert why == "length" and 1 <= len(toks) <= m
        assert not cut.endswith((",", "(", ";", ":")) and full.startswith(cut)
        assert full[len(cut):][:1] in (" ", ",", ".")  # stopped after a whole word, never inside one


def test_limit_never_splits_a_word():
    full = "The model's time-to-first-token is short."
    cuts = {"".join(text.apply_limits(full, m, [])[0]).strip() for m in range(1, text.count_tokens(full))}
    assert cuts == {"The", "The model's", "The model's time-to-first-token",
                    "The model's time-to-first-token is", "The model's time-to-first-token is short"}


def test_limits_and_stop():
    toks, why = text.apply_limits(ask("Explain streaming"), 5, [])
    assert len(toks) == 5 and why == "length"
    toks, why = text.apply_limits(ask("Explain streaming"), 10_000, [])
    assert why == "stop"
    toks, why = text.apply_limits("abc STOP def", 100, ["STOP"])
    assert "".join(toks).strip() == "abc" and why == "stop"


# Over HTTP, against a started simulator.

@pytest.fixture
def client(sim):
    return openai.OpenAI(base_url=sim.base_url, api_key="test-key", timeout=10, max_retries=0)


def lc(sim, **kw):
    return ChatOpenAI(base_url=sim.base_url, api_key="test-key", model="sim", stream_usage=True,
                      temperature=0, max_retries=0, timeout=10, **kw)


def test_five_words_over_http(client):
    r = client.chat.completions.create(model="sim", messages=[{"role": "user", "content": "Say hello in five words."}])
    a = r.choices[0].message.content
    assert words(a) == 5 and r.choices[0].finish_reason == "stop"
    assert r.usage.completion_tokens == text.count_tokens(a) == 7


@pytest.mark.parametrize("max_tokens", [3, 16, 17, 40, 70])
def test_usage_is_the_tokens_sent(client, max_tokens):
    msgs = [{"role": "user", "content": "Explain streaming"}]
    r = client.chat.completions.create(model="sim", messages=msgs, max_tokens=max_tokens)
    a = r.choices[0].message.content
    assert r.usage.completion_tokens == text.count_tokens(a) <= max_tokens
    assert r.choices[0].finish_reason == "length"
    chunks = list(client.chat.completions.create(model="sim", messages=msgs, max_tokens=max_tokens, stream=True,
                                                 stream_options={"include_usage": True}))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) == r.usage.completion_tokens == chunks[-1].usage.completion_tokens
    assert "".join(pieces) == a


@pytest.mark.parametrize("prompt,max_tokens", [("Explain streaming", 45), ("Explain streaming", 400),
                                                ("Say hello in five words.", 3),
                                                ("Explain caching in detail.", 120),
                                                ("Explain invoke in one sentence.", 400)])
def test_stream_text_equals_invoke_text(sim, prompt, max_tokens):
    llm = lc(sim, max_tokens=max_tokens)
    whole = llm.invoke(prompt)
    parts = list(llm.stream(prompt))
    streamed = "".join(p.content for p in parts)
    assert streamed == whole.content
    usage = [p.usage_metadata for p in parts if p.usage_metadata]
    assert usage and usage[-1]["output_tokens"] == whole.usage_metadata["output_tokens"] \
        == text.count_tokens(whole.content)
