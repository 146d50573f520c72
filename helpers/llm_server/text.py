"""Deterministic answer text and token counting for the simulator.

The simulator is not a language model. It answers from a small bank of
paragraphs about the course's own topics (streaming, batching, latency, RAG,
...) chosen by keywords in the prompt, and a plausible generic answer
otherwise. The same prompt and seed always give the same answer.

It honours the simplest length instructions in the last user message: "in N
words" (exactly N words; N as digits or one..twenty), "in N sentences", "one
sentence" / "in one line", "briefly" / "short", "in detail". "In N words" is made of
whole sentences (short fillers close the count); when even the first sentence is longer
than N, it is that sentence's first N words, with no full stop added. A max_tokens cut
ends at the last whole sentence that fits, or at a whole word when none does.

Tokens (the counting rule, the max_tokens cut) are in tokens.py; the names
are re-exported here. Structured answers (JSON, tool calls) are structured.py.
"""
from __future__ import annotations

import hashlib
import random
import re

from .tokens import apply_limits, content_text, count_prompt_tokens, count_tokens, last_user_text, tokenize

__all__ = ["answer", "embed", "length_request", "sentences", "TOPICS", "DETAIL_TOKENS",  # tokens.py's, re-exported:
           "apply_limits", "content_text", "count_prompt_tokens", "count_tokens", "last_user_text", "tokenize"]

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
STOPWORDS |= set("sentences line lines word tokens detail detailed depth briefly brief concise "
                 "concisely quick quickly describe say summarise summarize define".split())


def _rng(prompt: str, seed: int) -> random.Random:
    digest = hashlib.sha256(f"{seed}|{prompt}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
_NUM = r"(\d{1,4}|" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")"
_COUNTED_RE = re.compile(r"\b" + _NUM + r"[\s-]+(words?|sentences?|lines?|tokens?)\b")
_ONE_SENTENCE_RE = re.compile(r"\b(a|one|single|a single) (sentence|line)\b|\bone-liner\b")
_BRIEF_RE = re.compile(r"\b(brief|briefly|short|shortly|concise|concisely|quick|quickly|in a nutshell|tl;?dr)\b")
_DETAIL_RE = re.compile(r"\b(in detail|detailed|in depth|in-depth|at length|long answer|essay|thorough|thoroughly)\b")
GREETING = ["Hello!", "Nice to meet you.", "Welcome to the course.",
            "I am the course simulator, and my answers come from a small bank of sentences."]
_GREETING_RE = re.compile(r"\b(hello|hi|hey|greet|greeting)\b")
DETAIL_TOKENS = 220


def length_request(prompt: str) -> tuple[str, int] | None:
    """The simplest length instruction in the prompt, if any.

    ("words", N) for "in N words" (N as digits or a number word one..twenty),
    ("sentences", N) for "in N sentences" / "one sentence" / "in one line",
    ("tokens", N) for "in N tokens", ("brief", 0) for "briefly" / "short",
    ("detail", 0) for "in detail". None when the prompt asks for no length.
    """
    p = prompt.lower()
    m = _COUNTED_RE.search(p)
    if m:
        raw, unit = m.groups()
        n = int(raw) if raw.isdigit() else NUMBER_WORDS[raw]
        if n > 0:
            kind = {"w": "words", "s": "sentences", "l": "sentences", "t": "tokens"}[unit[0]]
            return kind, n
    if _ONE_SENTENCE_RE.search(p):
        return "sentences", 1
    if _DETAIL_RE.search(p):
        return "detail", 0
    if _BRIEF_RE.search(p):
        return "brief", 0
    return None


def sentences(text: str) -> list[str]:
    """Split a paragraph into sentences (at '.', '!' or '?' followed by a space)."""
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def _pool(first: list[str], rng: random.Random):
    """The answer's sentences, then more course sentences, forever; never the same one twice in a row."""
    yield from first
    last = first[-1] if first else None
    seen = set(first)
    extra = [s for _, t in TOPICS[:-1] for s in sentences(t) if s not in seen]  # (not the haiku)
    more = [s for s in rng.sample(GENERIC_SENTENCES, k=len(GENERIC_SENTENCES)) if s not in seen] + extra
    while True:
        for s in more:
            if s != last:
                yield s
                last = s
        more = rng.sample(GENERIC_SENTENCES, k=len(GENERIC_SENTENCES)) + extra


# Short whole sentences that fill what is left of "in N words" when no answer sentence does
# (2 to 5 words: any remainder of 2 or more is a sum of them).
FILLERS = {2: ["Measure first.", "Then compare.", "Start small."],
           3: ["Keep it simple.", "Time each step.", "Check the usage."],
           4: ["Measure before you guess."], 5: ["Write your guess down first."]}


def _first_words(text: str, n_words: int) -> str:
    """The first n_words words of a text, ended on a whole word; no full stop is invented."""
    return " ".join(text.split()[:n_words]).rstrip(",;:(-/\"'")


def _fill(left: int, rng: random.Random) -> list[str]:
    """Short whole sentences adding up to exactly `left` (>= 2) words, never one twice in a row."""
    out: list[str] = []
    while left > 0:
        k = left if left <= 5 else 3
        choices = [s for s in FILLERS[k] if not out or s != out[-1]]
        out.append(rng.choice(choices))
        left -= k
    return out


def _exactly_words(first: list[str], n: int, rng: random.Random) -> str:
    """Whole sentences adding up to exactly n words: the answer's, then the course's, then short
    fillers. When the first sentence alone is longer than n, its first n words (no full stop)."""
    if n < len(first[0].split()):
        return _first_words(first[0], n)
    out, left, misses = [], n, 0
    for s in _pool(first, rng):
        k = len(s.split())
        if (k == left or k <= left - 2) and (not out or s != out[-1]):  # never leave 1 word to fill
            out.append(s)
            left, misses = left - k, 0
        else:
            misses += 1
        if left == 0:
            return " ".join(out)
        if misses > 60 or (out and left <= 5 and misses > 12):
            break
    if not out:   # no answer sentence fits with a remainder >= 2: whole words, no invented stop
        return _first_words(" ".join(first), n)
    return " ".join(out + _fill(left, rng))


def _at_least_tokens(first: list[str], n: int, rng: random.Random) -> str:
    """Whole sentences until the answer has at least n tokens."""
    out, total = [], 0
    for s in _pool(first, rng):
        if total >= n:
            break
        out.append(s)
        total += count_tokens(s)
    return " ".join(out)


def answer(messages: list[dict], seed: int = 0, temperature: float = 0.0) -> str:
    """The simulator's full answer to a chat request (before length limits).

    Sized by the last user message's simplest length instruction (see `length_request`):
    exactly N words, N sentences, about N tokens (whole sentences), "briefly" (fewer
    sentences than the default) or "in detail" (whole sentences up to ~220 tokens).
    """
    prompt = last_user_text(messages)
    low = prompt.lower()
    rng = _rng(prompt, seed if temperature > 0 else 0)
    parts = [text for keys, text in TOPICS if any(k in low for k in keys)]
    generic = False  # the generic answer opens with a bare "Good question about X."
    if "haiku" in low:
        parts = [TOPICS[-1][1]]
    if not parts and _GREETING_RE.search(low):
        parts = [" ".join(GREETING)]
    elif not parts:
        words = [w for w in re.findall(r"[a-zA-Z][a-zA-Z-]+", prompt)
                 if w.lower() not in STOPWORDS and w.lower() not in NUMBER_WORDS]
        topic = " ".join(words[:4]) or "your question"
        sents = rng.sample(GENERIC_SENTENCES, k=4)
        parts = [rng.choice(GENERIC_OPENERS).format(topic=topic)] + sents
        generic = True
    elif temperature > 0:
        rng.shuffle(parts)
    text = " ".join(parts)
    ask = length_request(prompt)
    if ask is None:
        return text
    first = sentences(text)
    kind, n = ask
    if kind == "words":
        return _exactly_words(first, n, rng)
    if kind == "sentences":
        pool = _pool(first[1:] if generic else first, rng)  # (not just "Good question about X.")
        return " ".join(next(pool) for _ in range(n))
    if kind == "brief":
        return " ".join(first[:max(1, min(2, len(first) - 1))])
    if kind == "detail":
        return _at_least_tokens(first, max(DETAIL_TOKENS, count_tokens(text) + 40), rng)
    return _at_least_tokens(first, n, rng)  # tokens: whole sentences, then the limit of apply_limits


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
