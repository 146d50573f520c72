"""Lesson 06: lesson 05's RAG support bot, built once when the web app starts.

    bot = build_support_bot(max_tokens=200, timeout_s=30)   # -> SupportBot
    chain = bot.chain_for(fault=None)                       # rag.build_chain(retriever, llm)

The app needs no notebook: it loads the support articles, splits them with
`RecursiveCharacterTextSplitter`, stores them in an `InMemoryVectorStore`, and
wires `rag.build_chain` to the chat model of the course's backend switch
(LLM_BACKEND and friends, see helpers/backends.py).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import RunnableLambda
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_text_splitters import RecursiveCharacterTextSplitter

from ..backends import chat_model, sim_embeddings
from ..lessons import rag

EMBED_URL_ENV = "CHAT_APP_EMBED_URL"     # a simulator's /v1 for embeddings (set by start_chat_app)
LABEL_ENV = "CHAT_APP_BACKEND"           # the backend the notebook chose (e.g. "local")


@dataclass
class SupportBot:
    """The retriever and chat model the app answers with (lesson 06)."""

    retriever: object
    llm: object
    backend: str
    n_chunks: int
    settings: dict = field(default_factory=dict, repr=False)
    _faulty: dict = field(default_factory=dict, repr=False)

    def llm_for(self, fault: str | None = None):
        """The chat model for one request. fault (tests and lesson only): sent upstream as the
        simulator's X-Sim-Fault header, e.g. "500", "stall", "drop", "hold:NAME:3"."""
        if not fault:
            return self.llm
        if fault not in self._faulty:
            headers = {**self.settings.get("default_headers", {}), "X-Sim-Fault": fault}
            self._faulty[fault] = chat_model(**{**self.settings, "default_headers": headers})
        return self._faulty[fault]

    def chain_for(self, fault: str | None = None):
        """Lesson 05's chain, `rag.build_chain(retriever, llm)` (the naive endpoint uses it)."""
        return rag.build_chain(self.retriever, self.llm_for(fault))

    def answer_chain(self, fault: str | None = None):
        """The answer half of `rag.build_chain`: prompt | model | parser, fed {"docs", "question"}.

        The app runs retrieval, then this, one after the other. In `build_chain` the model call
        runs inside RunnableParallel (via .assign), which starts each branch as an asyncio task of
        its own and does not cancel it when the consumer is cancelled (langchain_core 1.8.1,
        runnables/base.py, RunnableParallel._atransform): the model call would outlive the client.
        """
        to_prompt = RunnableLambda(lambda x: {"context": rag.format_docs(x["docs"]), "question": x["question"]})
        return to_prompt | rag.rag_prompt() | self.llm_for(fault) | StrOutputParser()


def _embeddings():
    url = os.environ.get(EMBED_URL_ENV)
    if url:  # the notebook's simulator: retrieval works the same on every backend
        return sim_embeddings(base_url=url, dimensions=rag.SIM_DIMENSIONS)
    return rag.lesson_embeddings()


def build_support_bot(max_tokens: int = 200, timeout_s: float = 30.0, k: int = 4) -> SupportBot:
    """Ingest the support articles and build the chat model (lesson 06).

    The chat model gets max_retries=0: a chat page should say at once that the model
    failed (the user can ask again) rather than retry silently while the user waits.
    """
    chunks = RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=50).split_documents(
        rag.load_support_docs())
    store = InMemoryVectorStore(_embeddings())
    store.add_documents(chunks)
    label = os.environ.get(LABEL_ENV) or os.environ.get("LLM_BACKEND", "sim")
    settings = {"max_tokens": max_tokens, "timeout": timeout_s, "max_retries": 0, "check": False}
    if label == "local":  # llama.cpp closes a connection after a stream (see backends.chat_model)
        settings["default_headers"] = {"Connection": "close"}
    return SupportBot(store.as_retriever(search_kwargs={"k": k}), chat_model(**settings), label,
                      len(chunks), settings)
