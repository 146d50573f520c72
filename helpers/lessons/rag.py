"""Lesson 05's RAG pipeline: ingest in batches, answer in a stream, evaluate in a batch.

    docs = rag.load_support_docs()                      # 39 short support articles (Document objects)
    emb = rag.lesson_embeddings()                       # OpenAIEmbeddings for your backend
    run = rag.measure_ingestion(emb, texts, chunk_size=8, max_concurrency=4)   # -> IngestionRun
    chain = rag.build_chain(retriever, llm)             # {"docs", "question", "answer"}
    result = rag.stream_answer(chain, "How long is the return window?")        # -> AnswerResult
    rows = rag.score(rag.EVAL_QUESTIONS, chain.batch([...]))                    # -> [EvalRow]

The documents in `helpers/data/support_docs/` are made up (the "Lumen" smart
lamps do not exist), written so that every fact can be checked. All times
are `time.perf_counter()` seconds from one start, measured in this process.
"""
from __future__ import annotations

import html
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import ipywidgets as widgets
import numpy as np
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnableParallel, RunnablePassthrough

from ..ui import ThreadedWidget

__all__ = ["load_support_docs", "lesson_embeddings", "cosine", "IngestionRun", "measure_ingestion",
           "ingestion_sweep", "plot_ingestion", "SYSTEM", "format_docs", "rag_prompt", "build_chain",
           "AnswerResult", "stream_answer", "AnswerWidget", "EvalQuestion", "EVAL_QUESTIONS", "EvalRow",
           "score", "hit_rate", "keyword_rate", "eval_table", "prompt_tokens", "retrieval_rows"]

DOCS_DIR = Path(__file__).resolve().parent.parent / "data" / "support_docs"
SIM_DIMENSIONS = 1024   # the simulator's vectors: 256 numbers unless asked; more buckets, fewer collisions


# ---- documents and embeddings ------------------------------------------------------------------

def load_support_docs(folder: str | Path | None = None) -> list[Document]:
    """The course's support articles, one `Document` per Markdown file (lesson 05).

    metadata: `source` (the file name, e.g. "returns.md") and `title` (its first heading).
    """
    docs = []
    for path in sorted(Path(folder or DOCS_DIR).glob("*.md")):
        text = path.read_text(encoding="utf-8").strip()
        title = text.splitlines()[0].lstrip("# ").strip()
        docs.append(Document(page_content=text, metadata={"source": path.name, "title": title}))
    return docs


def lesson_embeddings(**kwargs):
    """An `OpenAIEmbeddings` for this lesson (lesson 05), from `helpers.embeddings_model()`.

    sim: the simulator's hashed bag-of-words vectors, asked for SIM_DIMENSIONS numbers.
    openai / compatible: the provider's model (LLM_EMBED_MODEL, default text-embedding-3-small).
    local: llama.cpp serves no embeddings here, so it prints a note and uses the simulator's.
    """
    from ..backends import embeddings_model, resolve_backend, sim_embeddings

    backend = resolve_backend()
    name = backend.name
    if name == "compatible" and not os.environ.get("LLM_EMBED_MODEL"):
        name = "local"  # a compatible server may serve no embeddings: use the simulator's
    if name == "local":
        print(f"Note: using the simulator's embeddings for retrieval (answers still come from "
              f"{backend.name}); set LLM_EMBED_MODEL to use your server's embeddings model.")
        return sim_embeddings(dimensions=SIM_DIMENSIONS, **kwargs)
    if name == "sim":
        kwargs.setdefault("dimensions", SIM_DIMENSIONS)
    return embeddings_model(**kwargs)


def cosine(a, b) -> float:
    """Cosine similarity of two vectors (lesson 05): 1 = same direction, 0 = nothing in common."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# ---- ingestion: batch work -------------------------------------------------------------------------

@dataclass(frozen=True)
class IngestionRun:
    """Embedding `n_texts` chunks, `chunk_size` texts per request, `max_concurrency` requests at once (lesson 05)."""

    chunk_size: int
    max_concurrency: int
    n_texts: int
    n_requests: int
    total_s: float

    @property
    def chunks_per_s(self) -> float:
        """Throughput: chunks embedded per second."""
        return self.n_texts / self.total_s

    def __str__(self) -> str:
        return (f"chunk_size={self.chunk_size:<3} max_concurrency={self.max_concurrency:<3} "
                f"{self.n_requests:>3} requests in {self.total_s:6.2f} s: {self.chunks_per_s:7.1f} chunks/s")


def measure_ingestion(emb, texts: list[str], chunk_size: int, max_concurrency: int) -> IngestionRun:
    """Embed `texts` in requests of `chunk_size` texts, `max_concurrency` requests in flight (lesson 05).

    With max_concurrency=1 this is exactly `emb.embed_documents(texts, chunk_size=chunk_size)`;
    above 1, the requests go out side by side through `Runnable.batch` (threads).
    """
    groups = [texts[i:i + chunk_size] for i in range(0, len(texts), chunk_size)]
    embed_group = RunnableLambda(lambda group: emb.embed_documents(group, chunk_size=chunk_size))
    t0 = time.perf_counter()
    vectors = embed_group.batch(groups, config={"max_concurrency": max_concurrency})
    total_s = time.perf_counter() - t0
    if sum(map(len, vectors)) != len(texts):
        raise RuntimeError("the embeddings server returned fewer vectors than texts")
    return IngestionRun(chunk_size, max_concurrency, len(texts), len(groups), total_s)


def ingestion_sweep(emb, texts: list[str], chunk_sizes=(1, 8, 64), concurrencies=(1, 4, 16),
                    on_run: Callable[[IngestionRun], None] | None = None) -> list[IngestionRun]:
    """`measure_ingestion` for every chunk_size x max_concurrency; on_run(run) after each one (lesson 05)."""
    runs = []
    for size in chunk_sizes:
        for conc in concurrencies:
            runs.append(measure_ingestion(emb, texts, size, conc))
            if on_run:
                on_run(runs[-1])
    return runs


def plot_ingestion(runs: list[IngestionRun], backend: str = ""):
    """Chunks/s against max_concurrency, one line per chunk_size (lesson 05). Returns (fig, ax)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    from ..plots import MEASURED, PALETTE, style_axes

    fig, ax = plt.subplots(figsize=(8, 4.2), constrained_layout=True)
    for i, size in enumerate(sorted({r.chunk_size for r in runs})):
        line = sorted((r for r in runs if r.chunk_size == size), key=lambda r: r.max_concurrency)
        ax.plot([r.max_concurrency for r in line], [r.chunks_per_s for r in line],
                marker="osD^v"[i % 5], ls=["-", "--", ":", "-."][i % 4], lw=2, ms=7,
                color=PALETTE[[4, 5, 6, 0][i % 4]],
                label=f"chunk_size={size} ({line[0].n_requests} requests)")
    concs = sorted({r.max_concurrency for r in runs})
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(concs, [str(c) for c in concs])
    style_axes(ax)
    ax.grid(alpha=0.3, which="both")
    ax.set(xlabel="max_concurrency (requests in flight)", ylabel="throughput (chunks/s, log scale)",
           title=f"Fewer, bigger requests and more in flight: faster ingestion ({runs[0].n_texts} chunks)")
    ax.legend(title=MEASURED + (f", {backend}" if backend else ""), fontsize="small", loc="lower right")
    return fig, ax


# ---- answering: stream work ------------------------------------------------------------------------

SYSTEM = ("You are the support assistant of Lumen smart lamps. Answer the question using only the "
          "context below, in at most three sentences. If the context does not hold the answer, say so.\n\n"
          "Context:\n{context}")


def format_docs(docs: list[Document]) -> str:
    """The retrieved chunks as one context string, each headed by its source file (lesson 05)."""
    return "\n\n".join(f"[{d.metadata.get('source', '?')}]\n{d.page_content}" for d in docs)


def rag_prompt() -> ChatPromptTemplate:
    """The RAG prompt (lesson 05): the context in a system message, the question as the user's message."""
    return ChatPromptTemplate.from_messages([("system", SYSTEM), ("human", "{question}")])


def build_chain(retriever, llm):
    """retriever | prompt | model | parser, keeping the documents beside the answer (lesson 05).

    Input: the question (a string). Output: {"question", "docs", "answer"}. With `.stream()` the
    documents arrive as one piece as soon as retrieval is done, then the answer piece by piece.
    """
    to_prompt = RunnableLambda(lambda x: {"context": format_docs(x["docs"]), "question": x["question"]})
    answer = to_prompt | rag_prompt() | llm | StrOutputParser()
    return RunnableParallel(docs=retriever, question=RunnablePassthrough()).assign(answer=answer)


@dataclass(frozen=True)
class AnswerResult:
    """One streamed RAG answer (lesson 05). Times in seconds since the question was sent:
    retrieval_s when the sources arrived, ttft_s at the first answer text, total_s at the end."""

    question: str
    sources: tuple[str, ...]
    text: str
    retrieval_s: float
    ttft_s: float
    total_s: float

    @property
    def model_ttft_s(self) -> float:
        """The part of TTFT after retrieval: prompt, queue and the model's first token."""
        return self.ttft_s - self.retrieval_s


def stream_answer(chain, question: str, on_sources: Callable[[list[Document], float], None] | None = None,
                  on_text: Callable[[str, float], None] | None = None) -> AnswerResult:
    """Stream `chain` (from `build_chain`) for one question and time it (lesson 05).

    on_sources(docs, t_s) is called once, when retrieval is done; on_text(piece, t_s) for every answer piece.
    """
    t0 = time.perf_counter()
    docs, retrieval_s, ttft_s, parts = [], None, None, []
    for piece in chain.stream(question):
        now = time.perf_counter() - t0
        if "docs" in piece:
            docs, retrieval_s = piece["docs"], now
            if on_sources:
                on_sources(docs, now)
        if piece.get("answer"):
            ttft_s = now if ttft_s is None else ttft_s
            parts.append(piece["answer"])
            if on_text:
                on_text(piece["answer"], now)
    total_s = time.perf_counter() - t0
    return AnswerResult(question, tuple(d.metadata.get("source", "?") for d in docs), "".join(parts),
                        retrieval_s if retrieval_s is not None else total_s,
                        ttft_s if ttft_s is not None else total_s, total_s)


def _sources_html(docs: list[Document]) -> str:
    items = "".join(f"<li><b>{html.escape(d.metadata.get('source', '?'))}</b>: "
                    f"{html.escape(d.page_content[:90].replace(chr(10), ' '))}…</li>" for d in docs)
    return f'<div style="font-size:0.9em"><b>Sources</b><ol>{items}</ol></div>'


class AnswerWidget(ThreadedWidget):
    """Lesson 05: ask a question; the sources appear first, then the answer streams in,
    with retrieval time and TTFT below. The work is `stream_answer(chain, question)`,
    run in a thread by `helpers.ui.ThreadedWidget`."""

    def __init__(self, chain, questions: list[str] = ()):
        self.chain, self.result, self.text = chain, None, ""
        self.question = widgets.Combobox(options=list(questions), value=questions[0] if questions else "",
                                         placeholder="Type a question", description="Question",
                                         layout=widgets.Layout(width="70%"))
        self.button = widgets.Button(description="Ask", button_style="primary", icon="search")
        self.sources, self.answer, self.timing = widgets.HTML(), widgets.HTML(), widgets.Label()
        self.log = widgets.Output()
        self.button.on_click(self.log.capture(clear_output=True)(self._on_click))
        super().__init__(widgets.VBox([widgets.HBox([self.question, self.button]), self.sources,
                                       self.answer, self.timing, self.log]), [self.button], self.log)

    def _on_click(self, _button=None) -> None:
        if self.running:
            return
        self.sources.value, self.answer.value, self.text, self.result = "<i>retrieving…</i>", "", "", None
        self.timing.value = ""
        self.start(self._run, self.question.value)

    def _show_sources(self, docs, t_s: float) -> None:
        self.sources.value = _sources_html(docs)
        self.timing.value = f"sources after {t_s:.2f} s · waiting for the first words…"

    def _add_text(self, piece: str, _t_s: float) -> None:
        self.text += piece
        self.answer.value = ('<div style="border-left:5px solid #ffa90e;padding:4px 8px;white-space:pre-wrap">'
                             f"{html.escape(self.text)}</div>")

    def _run(self, question: str) -> None:
        r = stream_answer(self.chain, question, self._show_sources, self._add_text)
        self.result = r
        self.timing.value = (f"retrieval {r.retrieval_s:.2f} s · first words at {r.ttft_s:.2f} s "
                             f"(TTFT, retrieval included) · done at {r.total_s:.2f} s")


# ---- evaluation: batch work ------------------------------------------------------------------------

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


def prompt_tokens(texts: list[str], k: int) -> int:
    """A rough size of one RAG prompt with `k` chunks of `texts` (lesson 05), for sizing experiments only.

    Average chunk length x k, plus the instructions and a short question, at about 4 characters per
    token. Bills come from `usage_metadata`, never from this.
    """
    from ..budget import estimate_tokens

    if isinstance(k, bool) or not isinstance(k, int) or k < 1 or not texts:
        raise ValueError(f"k must be a whole number >= 1 and texts a non-empty list; got k={k!r}")
    mean_chars = sum(map(len, texts)) / len(texts)
    return estimate_tokens("x" * int(mean_chars * k + len(SYSTEM) + 60))


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
