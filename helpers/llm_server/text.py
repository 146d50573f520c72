"""Deterministic answer text and token counting for the simulator.

The simulator is not a language model. It answers from a small bank of
paragraphs about the course's own topics (streaming, batching, latency, RAG,
...) chosen by keywords in the prompt, and a plausible generic answer
otherwise. The same prompt and seed always give the same answer.

Tokens: a simple, documented rule -- a word, a number or one punctuation mark
is one token (real tokenizers split words into ~0.75-word pieces; the shape of
every timing is the same).
"""
from __future__ import annotations

import hashlib
import random
import re

_TOKEN_RE = re.compile(r"\s*(?:\w+|[^\w\s])")

TOPICS: list[tuple[tuple[str, ...], str]] = [
    (("stream",),
     "Streaming sends the answer piece by piece while the model is still writing it. "
     "The first words arrive after the time to first token, and the rest follow at the "
     "model's steady token rate. The total time is about the same as waiting for the whole "
     "answer, but the reader starts reading almost at once, so the app feels faster. "
     "Streaming does not make the model generate faster; it only shows the work earlier. "
     "It also lets your code or your user stop early, which saves the tokens not yet written."),
    (("batch", "concurren", "parallel"),
     "Batching sends many independent prompts at once. In LangChain, batch runs ordinary "
     "requests side by side from a pool of threads, up to max_concurrency at a time. "
     "Throughput rises because the waits overlap, but each single request is no faster, "
     "and past the server's capacity extra requests only queue. Rate limits still apply "
     "to every request, so a large batch needs a sensible concurrency and retries."),
    (("invoke", "wait", "blocking"),
     "Invoke sends one prompt and waits until the whole answer is ready. It is the simplest "
     "way to call a model and fits scripts, background jobs and reports, where nobody is "
     "watching the screen. In a chat window the user stares at nothing until the last token "
     "is written, which makes even a fast model feel slow."),
    (("latency", "throughput", "fast", "slow", "speed"),
     "Latency is how long one request takes; throughput is how much work finishes per second. "
     "A single user cares about latency, and mostly about the time until the first words "
     "appear. A job that processes thousands of prompts cares about throughput. Streaming "
     "improves perceived latency, and batching improves throughput; neither makes the model "
     "itself faster."),
    (("rag", "retriev", "embedding", "document", "ingest"),
     "Retrieval-augmented generation answers from your own documents. First the documents are "
     "split into chunks and embedded, which is bulk work best done in batches. At question "
     "time the closest chunks are retrieved and passed to the model with the question, and "
     "the answer is streamed back so the user sees it start quickly."),
    (("cost", "price", "token", "cheap"),
     "Cost follows tokens: you pay for the prompt tokens you send and the completion tokens the "
     "model writes. Shorter prompts, tighter output limits and caching repeated prompts cut "
     "cost. Streaming costs the same as invoke for the same answer, and client-side batching "
     "costs the same too; a provider's asynchronous batch API can cost about half, in exchange "
     "for results that arrive hours later."),
    (("support", "customer", "chatbot", "chat"),
     "A support chatbot must stream its answers. Customers judge the bot by how quickly it "
     "starts to reply, and a blank screen for several seconds feels broken even when the final "
     "answer is good. Behind the scenes the same bot can use batch jobs to index the help "
     "articles and evaluate its answers overnight."),
    (("haiku", "poem"),
     "Tokens drift like snow, / one by one the answer grows, / the wait melts away."),
]

GENERIC_OPENERS = [
    "Here is a short answer about {topic}.",
    "Good question about {topic}.",
    "Let us look at {topic} step by step.",
]
GENERIC_SENTENCES = [
    "The key idea is to separate what must happen now from what can happen later.",
    "A small experiment, measured with a clock, is worth more than a long argument.",
    "Start with the simplest version that works, then measure where the time goes.",
    "Most of the waiting in an application is spent on the network and the model, not in your code.",
    "When many tasks are independent, they can be sent side by side instead of one after another.",
    "Clear limits on time, size and retries keep a program responsive when something goes wrong.",
    "Each step should do one thing well, so that it is easy to test and easy to change.",
    "Write down the numbers you expect before you measure them, then compare.",
]
STOPWORDS = set("a an the of to in on for and or is are be do does how what why which who "
                "me you your my i it this that with about explain tell write give please can "
                "in one sentence short words".split())


def tokenize(text: str) -> list[str]:
    """Split text into simulator tokens; joining them gives back the text (minus edge spaces)."""
    return _TOKEN_RE.findall(text)


def count_tokens(text: str) -> int:
    """Number of simulator tokens in `text`."""
    return len(_TOKEN_RE.findall(text))


def count_prompt_tokens(messages: list[dict]) -> int:
    """Prompt tokens of a chat request: content tokens + 4 per message (like OpenAI's framing)."""
    return sum(4 + count_tokens(_content_text(m.get("content"))) for m in messages) + 2


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def last_user_text(messages: list[dict]) -> str:
    """The text of the last user message (what the answer is about)."""
    for m in reversed(messages):
        if m.get("role") == "user":
            return _content_text(m.get("content"))
    return _content_text(messages[-1].get("content")) if messages else ""


def _rng(prompt: str, seed: int) -> random.Random:
    digest = hashlib.sha256(f"{seed}|{prompt}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _target_tokens(prompt: str) -> int | None:
    """Answer length asked for in the prompt, e.g. 'in one sentence', 'in 200 words'."""
    p = prompt.lower()
    if "one sentence" in p or "one line" in p or "one word" in p:
        return 30
    m = re.search(r"(\d{1,4})\s*(words|tokens)", p)
    if m:
        return int(m.group(1))
    if any(w in p for w in ("in detail", "long answer", "essay", "thorough")):
        return 220
    return None


def answer(messages: list[dict], seed: int = 0, temperature: float = 0.0) -> str:
    """The simulator's full answer to a chat request (before length limits)."""
    prompt = last_user_text(messages)
    low = prompt.lower()
    rng = _rng(prompt, seed if temperature > 0 else 0)
    parts = [text for keys, text in TOPICS if any(k in low for k in keys)]
    if not parts:
        words = [w for w in re.findall(r"[a-zA-Z][a-zA-Z-]+", prompt) if w.lower() not in STOPWORDS]
        topic = " ".join(words[:4]) or "your question"
        sents = rng.sample(GENERIC_SENTENCES, k=4)
        parts = [rng.choice(GENERIC_OPENERS).format(topic=topic)] + sents
    elif temperature > 0:
        rng.shuffle(parts)
    text = " ".join(parts)
    target = _target_tokens(prompt)
    if target is None:
        return text
    toks = tokenize(text)
    extra = rng.sample(GENERIC_SENTENCES, k=len(GENERIC_SENTENCES))
    i = 0
    while len(toks) < target:  # pad a long request with more sentences, each in turn
        toks += tokenize(" " + extra[i % len(extra)])
        i += 1
    cut = "".join(toks[:target]).strip()
    return cut if cut.endswith((".", "!", "?")) else cut + "."


def apply_limits(text: str, max_tokens: int, stop: list[str]) -> tuple[list[str], str]:
    """Cut the answer at the first stop sequence and at max_tokens.

    Returns (tokens, finish_reason) with finish_reason "stop" or "length".
    """
    cut = len(text)
    for s in stop:
        if s and s in text:
            cut = min(cut, text.index(s))
    toks = tokenize(text[:cut])
    if len(toks) > max_tokens:
        return toks[:max_tokens], "length"
    return toks, "stop"


def embed(text: str, dimensions: int = 256) -> list[float]:
    """A deterministic embedding: hashed bag of words, L2-normalised (lesson 05).

    Each lowercased word (and each pair of neighbouring words) adds 1 to a
    bucket chosen by its hash, with a sign from the hash. Texts that share
    words get similar vectors; it knows nothing of synonyms.
    """
    vec = [0.0] * dimensions
    words = re.findall(r"\w+", text.lower())
    feats = words + [f"{a} {b}" for a, b in zip(words, words[1:])]
    for f in feats:
        h = int.from_bytes(hashlib.blake2b(f.encode(), digest_size=8).digest(), "big")
        vec[h % dimensions] += 1.0 if (h >> 32) & 1 else -1.0
    norm = sum(v * v for v in vec) ** 0.5 or 1.0
    return [v / norm for v in vec]
