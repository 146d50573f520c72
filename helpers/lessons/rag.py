"""Lesson 05's RAG pipeline: ingest in batches, answer in a stream, evaluate in a batch.

    docs = rag.load_support_docs()                      # 39 short support articles (Document objects)
    emb = rag.lesson_embeddings()                       # OpenAIEmbeddings for your backend
    run = rag.measure_ingestion(emb, texts, chunk_size=8, max_concurrency=4)   # -> IngestionRun
    chain = rag.build_chain(retriever, llm)             # {"docs", "question", "answer"}
    result = rag.stream_answer(chain, "How long is the return window?")        # -> AnswerResult
    rows = rag.score(rag.EVAL_QUESTIONS, chain.batch([...]))                    # -> [EvalRow]

`embed_in_groups`, `build_chain` and the loop inside `stream_answer` are written in lesson 05's
cells first (d2l style) and kept here for the widgets, the cost cells and the tests.

The documents in `helpers/data/support_docs/` are made up (the "Lumen" smart
lamps do not exist), written so that every fact can be checked. All times
are `time.perf_counter()` seconds from one start, measured in this process.
Ingestion lives in `rag_ingest` and evaluation in `rag_eval`; both are re-exported
here, so lessons keep writing `rag.X`.
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
from .rag_eval import EVAL_QUESTIONS, EvalQuestion, EvalRow, eval_table, hit_rate, keyword_rate, retrieval_rows, score
from .rag_ingest import (
    IngestionRun,
    embed_in_groups,
    guess_line,
    ingestion_sweep,
    measure_ingestion,
    plot_ingestion,
    same_work_note,
)
from .run_progress import progress_bar

__all__ = ["load_support_docs", "lesson_embeddings", "cosine", "IngestionRun", "embed_in_groups", "measure_ingestion",
           "guess_line", "ingestion_sweep", "plot_ingestion", "same_work_note", "SYSTEM", "format_docs", "rag_prompt",
           "build_chain",
           "AnswerResult", "stream_answer", "AnswerWidget", "EvalQuestion", "EVAL_QUESTIONS", "EvalRow",
           "score", "hit_rate", "keyword_rate", "eval_table", "prompt_tokens", "retrieval_rows", "progress_bar"]

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
    """retriever | prompt | model | parser, keeping the documents beside the answer (lesson 05,
    which writes this function in a cell first; a test keeps the two copies the same).

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
    """Stream `chain` (from `build_chain`) for one question and time it (lesson 05): the loop the
    lesson writes in a cell, as a function with hooks for the widget.

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
