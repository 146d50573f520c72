"""Lesson 05's evaluation, batch work: test questions with the file that holds each answer,
scoring chain outputs (was the source retrieved, does the answer hold the keywords), rates and a table.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EvalQuestion:
    """A test question, the file that holds its answer, and words a right answer must contain (lesson 05)."""

    question: str
    source: str
    keywords: tuple[str, ...]


EVAL_QUESTIONS: tuple[EvalQuestion, ...] = (
    EvalQuestion("How long is the return window?", "returns.md", ("45",)),
    EvalQuestion("What does LumenCare+ cost?", "extended-warranty.md", ("19",)),
    EvalQuestion("How long is the warranty on the Lumen Pro?", "warranty-standard.md", ("3 years",)),
    EvalQuestion("At what time do automatic firmware updates install?", "firmware-updates.md", ("03:00",)),
    EvalQuestion("How long do I hold the touch ring for a factory reset?", "factory-reset.md", ("15 seconds",)),
    EvalQuestion("Which Wi-Fi band does the lamp need?", "troubleshooting-wifi.md", ("2.4 GHz",)),
    EvalQuestion("How long is the password reset link valid?", "accounts-password.md", ("30 minutes",)),
    EvalQuestion("Where is my data stored?", "privacy-data.md", ("Frankfurt",)),
    EvalQuestion("How much does express shipping cost?", "shipping-domestic.md", ("9.90",)),
    EvalQuestion("How long does the Lumen Go battery last?", "battery-lumen-go.md", ("10 hours",)),
    EvalQuestion("Which power adapter model is part of the safety recall?", "safety-recall.md", ("PA-12",)),
    EvalQuestion("What discount do bulk orders get?", "bulk-orders.md", ("12%",)),
)


@dataclass(frozen=True)
class EvalRow:
    """One question's score (lesson 05): was the expected source retrieved, which keywords the answer holds."""

    question: str
    expected_source: str
    retrieved: tuple[str, ...]
    keywords: tuple[str, ...]
    keywords_found: tuple[str, ...]

    @property
    def source_found(self) -> bool:
        return self.expected_source in self.retrieved

    @property
    def answer_ok(self) -> bool:
        return len(self.keywords_found) == len(self.keywords)


def score(questions, outputs) -> list[EvalRow]:
    """Score chain outputs ({"docs", "answer"} dicts, or lists of Documents) against `questions` (lesson 05)."""
    rows = []
    for q, out in zip(questions, outputs, strict=True):
        docs = out["docs"] if isinstance(out, dict) else out
        answer = out.get("answer", "") if isinstance(out, dict) else ""
        found = tuple(k for k in q.keywords if k.lower() in answer.lower())
        rows.append(EvalRow(q.question, q.source, tuple(d.metadata.get("source", "?") for d in docs),
                            q.keywords, found))
    return rows


def retrieval_rows(retriever, questions) -> list[EvalRow]:
    """Score the retriever alone on `questions` (lesson 05): embeddings and search, no chat model."""
    found = retriever.batch([q.question for q in questions])
    return score(questions, found)


def hit_rate(rows: list[EvalRow]) -> float:
    """Share of questions whose expected source was retrieved, 0 to 1 (lesson 05)."""
    return sum(r.source_found for r in rows) / len(rows)


def keyword_rate(rows: list[EvalRow]) -> float:
    """Share of answers that contain all their expected keywords, 0 to 1 (lesson 05)."""
    return sum(r.answer_ok for r in rows) / len(rows)


def eval_table(rows: list[EvalRow]) -> str:
    """The scores as a plain-text table, one row per question (lesson 05)."""
    lines = [f"{'question':<56} {'expected source':<24} {'retrieved?':<10} keywords in answer"]
    for r in rows:
        lines.append(f"{r.question[:55]:<56} {r.expected_source:<24} {'yes' if r.source_found else 'NO':<10} "
                     f"{len(r.keywords_found)}/{len(r.keywords)}")
    lines.append(f"{'':<56} {'':<24} {hit_rate(rows):<10.0%} {keyword_rate(rows):.0%}")
    return "\n".join(lines)
