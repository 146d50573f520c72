"""The simulator's answer text: deterministic, on topic, sized as asked, never stuck repeating."""
import re

from helpers.llm_server import text


def ask(prompt, **kw):
    return text.answer([{"role": "user", "content": prompt}], **kw)


def test_on_topic_and_deterministic():
    assert "Streaming" in ask("Explain streaming") and ask("Explain streaming") == ask("Explain streaming")
    assert "batch" in ask("How does batch work?").lower()
    assert ask("Tell me about gardening tools").startswith(("Here is", "Good question", "Let us"))


def test_length_follows_the_prompt():
    assert text.count_tokens(ask("Explain streaming in one sentence")) <= 31
    n = text.count_tokens(ask("Explain streaming in 300 words"))
    assert 300 <= n <= 302
    assert text.count_tokens(ask("How long is the warranty?")) < 120  # "long" alone is not a request for length


def test_long_answers_do_not_repeat_a_sentence_back_to_back():
    sentences = re.split(r"(?<=\.) ", ask("Explain streaming in 400 words"))
    assert all(a != b for a, b in zip(sentences, sentences[1:]))


def test_limits_and_stop():
    toks, why = text.apply_limits(ask("Explain streaming"), 5, [])
    assert len(toks) == 5 and why == "length"
    toks, why = text.apply_limits("abc STOP def", 100, ["STOP"])
    assert "".join(toks).strip() == "abc" and why == "stop"
