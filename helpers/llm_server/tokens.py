"""Simulator tokens: splitting text, counting a chat request's tokens, cutting at max_tokens.

The rule is simple and documented: a word, a number or one punctuation mark is one
token (real tokenizers split words into ~0.75-word pieces; the shape of every timing
is the same). Joining the tokens of a text gives the text back (minus edge spaces),
so JSON and tool-call arguments stream token by token too.
"""
from __future__ import annotations

import re

_TOKEN_RE = re.compile(r"\s*(?:\w+|[^\w\s])")


def tokenize(text: str) -> list[str]:
    """Split text into simulator tokens; joining them gives back the text (minus edge spaces)."""
    return _TOKEN_RE.findall(text)


def count_tokens(text: str) -> int:
    """Number of simulator tokens in `text`."""
    return len(_TOKEN_RE.findall(text))


def count_prompt_tokens(messages: list[dict]) -> int:
    """Prompt tokens of a chat request: content tokens + 4 per message (like OpenAI's framing)."""
    return sum(4 + count_tokens(content_text(m.get("content"))) for m in messages) + 2


def content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def last_user_text(messages: list[dict]) -> str:
    """The text of the last user message (what the answer is about)."""
    for m in reversed(messages):
        if m.get("role") == "user":
            return content_text(m.get("content"))
    return content_text(messages[-1].get("content")) if messages else ""


_SENTENCE_END = (".", "!", "?")
_NO_END = set(",;:(-/\"'")
_AFTER_WORD = set(".,;:!?)")


def apply_limits(text: str, max_tokens: int, stop: list[str]) -> tuple[list[str], str]:
    """Cut the answer at the first stop sequence and at max_tokens.

    Returns (tokens, finish_reason) with finish_reason "stop" or "length". When
    max_tokens cuts, the answer ends at the last full sentence that fits; when not
    even one fits, at the last whole word (never on a comma or an opening mark).
    Either way finish_reason is "length", and the tokens returned are exactly the
    tokens sent (so usage.completion_tokens is their count).
    """
    cut = len(text)
    for s in stop:
        if s and s in text:
            cut = min(cut, text.index(s))
    toks = tokenize(text[:cut])
    if len(toks) <= max_tokens:
        return toks, "stop"
    head = toks[:max_tokens]
    ends = [i for i, t in enumerate(head) if t.strip() in _SENTENCE_END
            and (i + 1 >= len(toks) or toks[i + 1].startswith(" "))]
    if ends:
        return head[:ends[-1] + 1], "length"
    def clean(n: int) -> bool:  # ends after a whole word ("model", not the "model" of "model's")
        nxt = toks[n]
        return head[n - 1].strip() not in _NO_END and (nxt.startswith(" ") or nxt in _AFTER_WORD)

    n = len(head)
    while n > 1 and not clean(n):
        n -= 1
    return head[:n], "length"
