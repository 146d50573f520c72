"""Tests for helpers/rag.py and helpers/cost.py (lesson 05).

The document set and the splitter give a known number of chunks; retrieval with
the simulator's embeddings finds the expected sources; the chain streams the
sources before the answer; cost arithmetic is exact; a cache hit is free; the
widgets are driven by their controls. Timing assertions are relations only.
"""
from __future__ import annotations

import inspect
import json
import re
import sys
import time
import uuid
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from langchain_core.caches import InMemoryCache  # noqa: E402
from langchain_core.documents import Document  # noqa: E402
from langchain_core.vectorstores import InMemoryVectorStore  # noqa: E402
from langchain_text_splitters import RecursiveCharacterTextSplitter  # noqa: E402

from helpers import chat_model, cost, rag, start_simulator  # noqa: E402

N_DOCS, N_CHUNKS = 39, 81          # the shipped documents, split at 500 characters with 50 of overlap
MINI = cost.Price("gpt-4o-mini", 0.15, 0.075, 0.60, 0.5)


@pytest.fixture(scope="module")
def chunks():
    return RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=50).split_documents(rag.load_support_docs())


@pytest.fixture
def emb(sim_env):
    return rag.lesson_embeddings()


@pytest.fixture
def store(emb, chunks):
    s = InMemoryVectorStore(emb)
    s.add_documents(chunks)
    return s


@pytest.fixture
def llm(sim_env):
    return chat_model(max_tokens=60, timeout=20)


@pytest.fixture
def chain(store, llm):
    return rag.build_chain(store.as_retriever(search_kwargs={"k": 4}), llm)


def wait_for(condition, timeout_s=20.0):
    deadline = time.perf_counter() + timeout_s
    while not condition():
        assert time.perf_counter() < deadline, "timed out"
        time.sleep(0.005)


# ---- the documents ---------------------------------------------------------------------------

def test_document_set_is_30_to_40_short_articles():
    docs = rag.load_support_docs()
    assert len(docs) == N_DOCS
    assert all(80 <= len(d.page_content.split()) <= 250 for d in docs)
    assert len({d.metadata["source"] for d in docs}) == len(docs)
    assert all(d.metadata["title"] and not d.metadata["title"].startswith("#") for d in docs)


def test_every_eval_fact_is_in_its_source_document():
    text = {d.metadata["source"]: d.page_content for d in rag.load_support_docs()}
    assert 8 <= len(rag.EVAL_QUESTIONS) <= 12
    for q in rag.EVAL_QUESTIONS:
        for word in q.keywords:
            assert word in text[q.source].replace("**", ""), (q.source, word)


def test_splitter_gives_the_expected_chunks(chunks):
    assert len(chunks) == N_CHUNKS
    assert max(len(c.page_content) for c in chunks) <= 500
    assert {c.metadata["source"] for c in chunks} == {d.metadata["source"] for d in rag.load_support_docs()}


# ---- ingestion ---------------------------------------------------------------------------------

@pytest.mark.parametrize("size, requests", [(1, 24), (8, 3), (64, 1)])
def test_measure_ingestion_counts_requests(emb, chunks, size, requests):
    texts = [c.page_content for c in chunks[:24]]
    run = rag.measure_ingestion(emb, texts, chunk_size=size, max_concurrency=4)
    assert (run.n_texts, run.n_requests, run.chunk_size, run.max_concurrency) == (24, requests, size, 4)
    assert run.total_s > 0 and run.chunks_per_s == pytest.approx(24 / run.total_s)
    assert f"{run.n_requests:>3} requests" in str(run)


def test_concurrency_overlaps_the_waits(emb, chunks):
    texts = [c.page_content for c in chunks[:16]]
    one = rag.measure_ingestion(emb, texts, chunk_size=1, max_concurrency=1)
    eight = rag.measure_ingestion(emb, texts, chunk_size=1, max_concurrency=8)
    assert eight.total_s < one.total_s


def test_sweep_runs_every_setting_in_order_and_plots(emb, chunks):
    seen = []
    runs = rag.ingestion_sweep(emb, [c.page_content for c in chunks[:10]], (1, 5), (1, 2), on_run=seen.append)
    assert seen == runs and [(r.chunk_size, r.max_concurrency) for r in runs] == [(1, 1), (1, 2), (5, 1), (5, 2)]
    fig, ax = rag.plot_ingestion(runs, "sim")
    assert [line.get_label() for line in ax.get_lines()] == ["chunk_size=1 (10 requests)", "chunk_size=5 (2 requests)"]
    assert "chunks/s" in ax.get_ylabel()
    matplotlib.pyplot.close(fig)


# ---- retrieval and the chain -----------------------------------------------------------------------

@pytest.mark.parametrize("k, at_least", [(2, 0.75), (4, 0.9), (8, 0.9)])
def test_retrieval_finds_most_expected_sources(store, k, at_least):
    retriever = store.as_retriever(search_kwargs={"k": k})
    found = retriever.batch([q.question for q in rag.EVAL_QUESTIONS], config={"max_concurrency": 4})
    rows = rag.score(rag.EVAL_QUESTIONS, found)
    assert all(len(r.retrieved) == k for r in rows)
    assert rag.hit_rate(rows) >= at_least


def test_stream_sends_sources_before_the_first_words(chain):
    events = []
    r = rag.stream_answer(chain, "What is the return window?", lambda docs, t: events.append(("sources", t, docs)),
                          lambda piece, t: events.append(("text", t, piece)))
    assert events[0][0] == "sources" and [e[0] for e in events[1:]] == ["text"] * (len(events) - 1)
    assert r.sources == tuple(d.metadata["source"] for d in events[0][2]) and r.sources[0] == "returns.md"
    assert 0 < r.retrieval_s <= r.ttft_s <= r.total_s and r.model_ttft_s >= 0
    assert r.text == "".join(e[2] for e in events[1:]) == chain.invoke("What is the return window?")["answer"]


def test_prompt_holds_the_retrieved_context(store):
    docs = store.as_retriever(search_kwargs={"k": 2}).invoke("What is the return window?")
    messages = rag.rag_prompt().invoke({"context": rag.format_docs(docs), "question": "Q?"}).to_messages()
    assert "[returns.md]" in messages[0].content and messages[1].content == "Q?"


def test_score_and_table_with_planted_outputs():
    qs = rag.EVAL_QUESTIONS[:2]
    outputs = [{"docs": [Document("x", metadata={"source": qs[0].source})], "answer": "Within 45 days."},
               {"docs": [Document("y", metadata={"source": "other.md"})], "answer": "I don't know."}]
    rows = rag.score(qs, outputs)
    assert [r.source_found for r in rows] == [True, False] and [r.answer_ok for r in rows] == [True, False]
    assert rag.hit_rate(rows) == rag.keyword_rate(rows) == 0.5
    table = rag.eval_table(rows)
    assert "yes" in table and "NO" in table and "50%" in table
    assert rag.score(qs[:1], [[Document("z", metadata={"source": qs[0].source})]])[0].source_found


def test_answer_widget_shows_sources_then_the_answer(chain):
    w = rag.AnswerWidget(chain, ["What is the return window?"])
    w.button.click()
    wait_for(lambda: w.result is not None and not w.button.disabled)
    assert "returns.md" in w.sources.value and w.result.text[:20] in w.answer.value
    assert "retrieval" in w.timing.value and "TTFT" in w.timing.value


def test_answer_widget_shows_a_failure_as_one_line_and_stays_usable(store, sim_env):
    broken = chat_model(max_tokens=60, timeout=20, max_retries=0, default_headers={"X-Sim-Fault": "500"})
    w = rag.AnswerWidget(rag.build_chain(store.as_retriever(), broken), ["What is the return window?"])
    w.button.click()
    w.wait(30)
    assert w.error and "500" in w.error and "\n" not in w.error
    assert not w.button.disabled and w.result is None
    assert w.log.outputs and w.error in w.log.outputs[-1]["text"]


# ---- prices and costs ----------------------------------------------------------------------------

def test_price_file_is_labelled_example_data_with_a_date():
    raw = json.loads(cost.PRICES_PATH.read_text())
    assert "EXAMPLE" in raw["about"] and "change" in raw["about"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw["taken_on"]) and "openai.com" in raw["source"]
    prices = cost.load_prices()
    assert {"gpt-4o-mini", "gpt-4.1-mini"} <= set(prices.models) and prices.default_model in prices.models
    for p in prices.prices.values():
        assert 0 < p.cached_input_per_1m <= p.input_per_1m < p.output_per_1m and p.batch_discount == 0.5
    assert prices["gpt-4o-mini"] == MINI and "Taken on" in str(prices)
    with pytest.raises(KeyError, match="gpt-4o-mini"):
        prices["gpt-99"]


def test_usage_cost_exact():
    usage = {"input_tokens": 1000, "output_tokens": 500, "total_tokens": 1500}
    assert cost.usage_cost(usage, MINI) == pytest.approx(0.00045, rel=1e-12)
    assert cost.usage_cost(usage, MINI, batch_api=True) == pytest.approx(0.000225, rel=1e-12)
    cached = {**usage, "input_token_details": {"cache_read": 400}}
    assert cost.usage_cost(cached, MINI) == pytest.approx((600 * 0.15 + 400 * 0.075 + 500 * 0.6) / 1e6, rel=1e-12)
    assert cost.is_cache_hit({**usage, "total_cost": 0}) and not cost.is_cache_hit(usage)


def test_monthly_cost_exact_numbers():
    bill = cost.monthly_cost(2000, 1500, 200, MINI, cache_hit_rate=0.3)
    assert (bill.requests, bill.billed_requests) == (60000, pytest.approx(42000))
    assert bill.input_usd == pytest.approx(9.45, rel=1e-12) and bill.output_usd == pytest.approx(5.04, rel=1e-12)
    assert round(bill.total_usd, 2) == 14.49
    assert cost.monthly_cost(2000, 1500, 200, MINI, 0.3, batch_api=True).total_usd == pytest.approx(7.245)
    assert cost.monthly_cost(1000, 1000, 0, MINI, prompt_cache_share=0.5, days=10).total_usd == pytest.approx(1.125)
    assert cost.monthly_cost(0, 1500, 200, MINI).total_usd == 0
    assert cost.monthly_cost(100, 1000, 100, MINI, cache_hit_rate=1).total_usd == 0


@pytest.mark.parametrize("kwargs", [{"cache_hit_rate": 30}, {"cache_hit_rate": -0.1}, {"prompt_cache_share": 2},
                                    {"requests_per_day": -1}, {"prompt_tokens": float("nan")}, {"days": -30}])
def test_monthly_cost_refuses_impossible_inputs(kwargs):
    args = {"requests_per_day": 10, "prompt_tokens": 10, "output_tokens": 10, "price": MINI, **kwargs}
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        cost.monthly_cost(**args)


def test_the_exercise_answer_is_what_monthly_cost_gives():
    from helpers import load_quiz
    q = load_quiz("05")["monthly_bill"]
    bill = cost.monthly_cost(2000, 1500, 200, MINI, cache_hit_rate=0.3, days=30)
    assert q.check(round(bill.total_usd, 2)).outcome == "correct"
    assert q.check(round(cost.monthly_cost(2000, 1500, 200, MINI).total_usd, 2)).outcome == "incorrect"  # no cache


# ---- what changes the bill, measured ---------------------------------------------------------------

def test_second_identical_call_is_served_by_the_cache_for_free(sim_env):
    srv = start_simulator(time_scale=0.05, seed=5)        # its own server: nobody else's requests counted
    llm = chat_model(server=srv, max_tokens=40, timeout=20, cache=InMemoryCache())
    prompt = f"Explain caching in one sentence ({uuid.uuid4().hex})."
    before = srv.stats()["requests_total"]
    t0 = time.perf_counter()
    first = llm.invoke(prompt)
    t1 = time.perf_counter()
    second = llm.invoke(prompt)
    t2 = time.perf_counter()
    assert srv.stats()["requests_total"] - before == 1
    assert second.content == first.content and t2 - t1 < t1 - t0
    assert cost.message_cost(first, MINI) > 0 and cost.message_cost(second, MINI) == 0
    assert second.usage_metadata["output_tokens"] == first.usage_metadata["output_tokens"]  # the trap: counts kept
    run = cost.run_with_usage(llm, [prompt, prompt + " again"], max_concurrency=1)
    assert (run.cache_hits, len(run.billed)) == (1, 1) and run.cost_usd(MINI) == cost.usage_cost(run.billed[0], MINI)


def test_streaming_costs_the_same_as_invoke(llm):
    prompt = "Explain the warranty options in detail."
    chunks = list(llm.stream(prompt))
    streamed = sum(chunks[1:], chunks[0])
    invoked = llm.invoke(prompt)
    assert streamed.usage_metadata["input_tokens"] == invoked.usage_metadata["input_tokens"]
    assert streamed.usage_metadata["output_tokens"] == invoked.usage_metadata["output_tokens"] > 0
    assert cost.message_cost(streamed, MINI) == cost.message_cost(invoked, MINI) > 0


def test_client_side_batch_same_tokens_and_bigger_k_more_prompt_tokens(store, llm):
    questions = [q.question for q in rag.EVAL_QUESTIONS[:6]]
    chain2 = rag.build_chain(store.as_retriever(search_kwargs={"k": 2}), llm)
    chain8 = rag.build_chain(store.as_retriever(search_kwargs={"k": 8}), llm)
    seq, par = cost.run_with_usage(chain2, questions, 1), cost.run_with_usage(chain2, questions, 6)
    assert len(seq.usages) == len(par.usages) == 6 and seq.cache_hits == 0
    assert (seq.input_tokens, seq.output_tokens) == (par.input_tokens, par.output_tokens)
    assert seq.cost_usd(MINI) == pytest.approx(par.cost_usd(MINI))
    big = cost.run_with_usage(chain8, questions, 6)
    assert big.input_tokens > 2 * seq.input_tokens and big.output_tokens == seq.output_tokens


def test_cost_widget_follows_its_controls():
    prices = cost.load_prices()
    w = cost.CostWidget(prices, requests_per_day=2000, prompt_tokens=1500, output_tokens=200, cache_hit_rate=0.3)
    w.update()
    assert w.result == cost.monthly_cost(2000, 1500, 200, prices["gpt-4o-mini"], cache_hit_rate=0.3)
    w.batch.value = True
    assert w.result.total_usd == pytest.approx(7.245) and f"${w.result.total_usd:,.2f} per month" in w.summary.value
    w.model.value, w.cache.value, w.prompt.value = "gpt-4.1-mini", 0.0, 1000
    assert w.result == cost.monthly_cost(w.traffic.value, 1000, 200, prices["gpt-4.1-mini"], 0.0, True)
    assert "example prices" in w.summary.value.lower()


def test_plot_monthly_draws_the_reference_lines():
    fig, ax = cost.plot_monthly(MINI, 2000, 1500, 200, cache_hit_rate=0.3, batch_api=True)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:4] == ["no cache", "cache hit rate 30%", "Batch API (−50%), no cache", "Batch API + cache 30%"]
    assert f"${cost.monthly_cost(2000, 1500, 200, MINI, 0.3, True).total_usd:,.2f}" in labels[4]
    matplotlib.pyplot.close(fig)
    fig, ax = cost.plot_monthly(MINI, 2000, 1500, 200)
    assert len(ax.get_lines()) == 3
    matplotlib.pyplot.close(fig)


@pytest.mark.parametrize("module", [rag, cost])
def test_public_names_have_docstrings_naming_lesson_05(module):
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert "lesson 05" in (obj.__doc__ or "").lower(), name


def test_a_blank_guess_prints_no_guess_and_a_number_prints_beside_the_measurement():
    from helpers.quiz import ____

    assert rag.guess_line(____, 7.25, "speed-up").startswith("no guess")
    assert rag.guess_line(5, 7.25, "speed-up") == "you guessed 5x | measured speed-up: 7.2x"
    with pytest.raises(ValueError, match="must be a number"):
        rag.guess_line("fast", 7.25, "speed-up")


def test_run_with_usage_shows_a_named_bar_that_counts_every_answer(llm, capsys):
    run = cost.run_with_usage(llm, ["What is the return window?", "How long is the warranty?"],
                              max_concurrency=2, progress="max_concurrency=2")
    err = capsys.readouterr().err
    assert len(run.outputs) == 2 and "max_concurrency=2" in err and "2/2" in err


# ---- the lesson's own code, reused: batched ingestion and live progress -----------------------------

def test_embed_in_groups_gives_the_vectors_of_embed_documents_in_order(emb, chunks):
    texts = [c.page_content for c in chunks[:7]]
    grouped = rag.embed_in_groups(emb, texts, chunk_size=3, max_concurrency=3)
    assert grouped == emb.embed_documents(texts)


def test_measure_ingestion_bar_counts_requests_and_names_the_setting(emb, chunks, capsys):
    run = rag.measure_ingestion(emb, [c.page_content for c in chunks[:9]], chunk_size=4, max_concurrency=2,
                                progress=True)
    err = capsys.readouterr().err
    assert run.n_requests == 3 and "texts/request=4, max_concurrency=2" in err and "3/3" in err


def test_progress_bar_counts_one_step_per_question_not_per_inner_step(chain, capsys):
    questions = ["What is the return window?", "Where is my data stored?", "What does LumenCare+ cost?"]
    with rag.progress_bar(len(questions), "evaluation batch") as bar:
        outputs = chain.batch(questions, config={"max_concurrency": 3, "callbacks": [bar]})
        assert bar.bar.n == len(outputs) == 3      # the retriever, prompt and parser runs are not counted
    assert "evaluation batch" in capsys.readouterr().err


def test_progress_bar_is_closed_when_the_batch_fails(store, sim_env):
    broken = chat_model(max_tokens=20, timeout=20, max_retries=0, default_headers={"X-Sim-Fault": "500"})
    with pytest.raises(Exception, match="500"):
        with rag.progress_bar(2, "evaluation batch") as bar:
            rag.build_chain(store.as_retriever(), broken).batch(["a?", "b?"], config={"callbacks": [bar]})
    assert bar.bar.disable and bar.bar.n < 2      # tqdm marks a closed bar disabled
