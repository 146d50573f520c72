"""Lesson 05's Batch API deep-dive: a provider's asynchronous Batch API, driven through the
official `openai` SDK exactly as in production (files.create, batches.create, poll, download).

    target = batch_api.batch_target(backend)                    # where the batch goes, and why
    reqs = batch_api.build_requests(questions, retriever, target.model, max_tokens=200)  # retrieval now
    batch_api.confirm_spend(target, reqs, price)                # an estimate; on OpenAI, asks first
    job = batch_api.poll(target, job.id)                        # a tqdm bar until a final status
    rows = batch_api.read_jsonl(target.client.files.content(job.output_file_id).text)
    answers = batch_api.match(reqs, rows)                       # by custom_id: the file has no order
    batch_api.usage_bill(rows, price, batch_api=True)           # tokens from `usage`, at batch prices

Where it runs: `sim` runs it on the course simulator, which implements OpenAI's Files and
Batches endpoints (helpers/llm_server/files.py, batches.py). llama.cpp's server (`local`) and
most OpenAI-compatible servers have no /v1/batches, so there it runs on the simulator too, and
says so. On `openai` it runs on the simulator unless you pass real=True; then it sends the
batch to OpenAI, after a cost estimate and a typed confirmation (you pay, at batch prices).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

from ..backends import SIM_KEY, chat_model
from ..backends.simulator import start_simulator
from ..errors import CourseError
from .pricing import Price, usage_cost
from .rag import format_docs, rag_prompt

FINAL = ("completed", "failed", "expired", "cancelled")


@dataclass(frozen=True)
class BatchTarget:
    """Where the batch goes (lesson 05): an `openai.OpenAI` client, the model, how often to poll."""

    client: object
    model: str
    where: str            # "the course simulator" or "OpenAI"
    poll_s: float         # seconds between two polls
    max_wait_s: float     # how long `poll` waits before it hands back an unfinished batch
    llm_kwargs: dict      # what chat_model needs to send `.batch()` to the same server

    def __str__(self) -> str:
        return f"Batch API on {self.where}, model {self.model!r}, polling every {self.poll_s:g} s"


def batch_target(backend, real: bool = False) -> BatchTarget:
    """The Batch API for `backend` (a helpers.Backend), explaining in one line when it is the simulator's."""
    import openai

    if backend.name == "openai" and real:
        client = openai.OpenAI(base_url=backend.base_url, api_key=backend.api_key, max_retries=2)
        return BatchTarget(client, backend.model, "OpenAI", 60.0, 600.0, {"backend": backend})
    notes = {"local": "llama.cpp's server (LLM_BACKEND=local) has no Batch API (/v1/batches)",
             "compatible": "an OpenAI-compatible server may have no Batch API",
             "openai": "LLM_BACKEND=openai, but real=False (OpenAI would bill it: pass real=True to send it there)"}
    if backend.name in notes:
        print(f"{notes[backend.name]}: this section runs on the course simulator, so its times and tokens "
              "are the simulator's.")
    srv = start_simulator()
    client = openai.OpenAI(base_url=srv.base_url, api_key=SIM_KEY, max_retries=2)
    return BatchTarget(client, "sim", "the course simulator", max(0.02, 0.5 * srv.time_scale),
                       24 * 10.0 * srv.time_scale + 30, {"server": srv})


@dataclass(frozen=True)
class BatchRequest:
    """One question as a Batch API request line (lesson 05): retrieval already done."""

    custom_id: str
    question: str
    prompt: object        # the LangChain prompt value (send it with `.batch()` too)
    body: dict            # the chat-completions body of the JSONL line

    def line(self) -> dict:
        return {"custom_id": self.custom_id, "method": "POST", "url": "/v1/chat/completions", "body": self.body}


def build_requests(questions: list[str], retriever, model: str, max_tokens: int = 200) -> list[BatchRequest]:
    """One request per question, with its retrieved context in the prompt (lesson 05).

    The provider runs the requests later, without your retriever: so retrieve now, and put
    the chunks in each request's messages, as the RAG chain's prompt does."""
    from langchain_core.messages import convert_to_openai_messages

    if not questions:
        raise CourseError("build_requests needs at least one question")
    out = []
    for i, q in enumerate(questions):
        prompt = rag_prompt().invoke({"context": format_docs(retriever.invoke(q)), "question": q})
        body = {"model": model, "messages": convert_to_openai_messages(prompt.to_messages()),
                "max_tokens": max_tokens, "temperature": 0}
        out.append(BatchRequest(f"eval-{i:03d}", q, prompt, body))
    return out


def to_jsonl(requests: list[BatchRequest]) -> bytes:
    """The upload: one JSON object per line (lesson 05)."""
    return "".join(json.dumps(r.line()) + "\n" for r in requests).encode()


def read_jsonl(text: str) -> list[dict]:
    """The lines of a downloaded output or error file (lesson 05)."""
    return [json.loads(x) for x in text.splitlines() if x.strip()]


def confirm_spend(target: BatchTarget, requests: list[BatchRequest], price: Price, ask=input) -> float:
    """Print the most the batch can cost at `price` with the Batch API discount (lesson 05):
    prompts at about 4 characters per token, every answer at its max_tokens. On OpenAI, ask
    for a typed 'yes' first; anything else stops here with one line."""
    chars = sum(len(m["content"]) for r in requests for m in r.body["messages"] if isinstance(m.get("content"), str))
    usage = {"input_tokens": chars // 4, "output_tokens": sum(r.body["max_tokens"] for r in requests)}
    most = usage_cost(usage, price, batch_api=True)
    print(f"{len(requests)} requests, about {usage['input_tokens']:,} prompt tokens, answers at most "
          f"{usage['output_tokens']:,} tokens: at most ${most:.5f} at {price.model} batch prices")
    if target.where == "OpenAI":
        print(f"(the comparison with .batch() afterwards sends the same requests at the standard price: "
              f"at most ${usage_cost(usage, price):.5f} more)")
        answer = ask(f"Send this batch to OpenAI and pay up to about ${most:.4f}? Type yes: ")
        if str(answer).strip().lower() != "yes":
            raise CourseError("Not sent: the batch needs a typed 'yes' (nothing was uploaded).")
    else:
        print(f"(on {target.where} nothing is billed: the same file on OpenAI would be)")
    return most


def poll(target: BatchTarget, batch_id: str):
    """Retrieve the batch every `target.poll_s` seconds with a progress bar until it ends or
    `target.max_wait_s` passes (lesson 05); prints the statuses it saw. Returns the last Batch."""
    from tqdm.auto import tqdm

    seen: list[str] = []
    t0 = time.perf_counter()
    job = target.client.batches.retrieve(batch_id)
    with tqdm(total=None, desc=job.status, unit="request") as bar:
        while True:
            if not seen or seen[-1] != job.status:
                seen.append(job.status)
                bar.set_description(job.status)
            counts = job.request_counts
            if counts is not None and counts.total:
                bar.total = counts.total
                bar.n = counts.completed + counts.failed
                bar.refresh()
            if job.status in FINAL or time.perf_counter() - t0 > target.max_wait_s:
                break
            time.sleep(target.poll_s)
            job = target.client.batches.retrieve(batch_id)
    print(" → ".join(seen) if job.status in FINAL else
          f"{' → '.join(seen)}: not finished after {target.max_wait_s:.0f} s; run `poll(target, {batch_id!r})` later")
    return job


def download(target: BatchTarget, job) -> tuple[list[dict], list[dict]]:
    """(output lines, error lines) of a finished batch; both empty if it has not finished."""
    def get(fid):
        return read_jsonl(target.client.files.content(fid).text) if fid else []
    if job.status not in FINAL:
        print(f"{job.id} is {job.status}: nothing to download yet")
        return [], []
    return get(job.output_file_id), get(job.error_file_id)


def match(requests: list[BatchRequest], rows: list[dict]) -> list[str | None]:
    """Each request's answer, in the order of `requests`, found by custom_id (None: no answer)."""
    by_id = {r["custom_id"]: r for r in rows}
    answers = []
    for req in requests:
        row = by_id.get(req.custom_id)
        ok = row is not None and (row.get("response") or {}).get("status_code") == 200
        answers.append(row["response"]["body"]["choices"][0]["message"]["content"] if ok else None)
    return answers


def usage_of(rows: list[dict]) -> list[dict]:
    """LangChain-style usage dicts ({"input_tokens", "output_tokens", ...}) from output lines."""
    out = []
    for r in rows:
        u = ((r.get("response") or {}).get("body") or {}).get("usage")
        if u:
            cached = (u.get("prompt_tokens_details") or {}).get("cached_tokens", 0) or 0
            out.append({"input_tokens": u["prompt_tokens"], "output_tokens": u.get("completion_tokens", 0),
                        "input_token_details": {"cache_read": cached}})
    return out


def usage_bill(rows: list[dict], price: Price, batch_api: bool = True) -> tuple[int, int, float]:
    """(input tokens, output tokens, US$) of the output lines' `usage`, at batch prices by default."""
    usages = usage_of(rows)
    return (sum(u["input_tokens"] for u in usages), sum(u["output_tokens"] for u in usages),
            sum(usage_cost(u, price, batch_api) for u in usages))


def same_server_model(target: BatchTarget, max_tokens: int = 200, timeout: float | None = None):
    """A ChatOpenAI on the batch's own server, for `.batch()` on the same prompts (lesson 05)."""
    return chat_model(max_tokens=max_tokens, timeout=timeout, **target.llm_kwargs)


def comparison(batch_s: float, rows: list[dict], dot_batch, price: Price, answers: list | None = None) -> str:
    """Lesson 05's side-by-side: the Batch API's time and bill vs `.batch()` (a cost.UsageRun),
    and how many of the batch's `answers` (from `match`) equal `.batch()`'s."""
    if not rows:
        return "The batch has no results yet, so there is nothing to compare: poll it again later."
    b_in, b_out, b_usd = usage_bill(rows, price, batch_api=True)
    lines = [f"{'way':<14} {'time to results':>16} {'tokens in + out':>16} {'cost':>10}",
             f"{'Batch API':<14} {batch_s:>14.2f} s {f'{b_in} + {b_out}':>16} ${b_usd:>9.5f}",
             f"{'.batch()':<14} {dot_batch.total_s:>14.2f} s "
             f"{f'{dot_batch.input_tokens} + {dot_batch.output_tokens}':>16} ${dot_batch.cost_usd(price):>9.5f}"]
    if dot_batch.cost_usd(price) > 0 and rows:
        lines.append(f"the Batch API cost {b_usd / dot_batch.cost_usd(price):.0%} of what .batch() cost, and took "
                     f"{batch_s / dot_batch.total_s:.2f} times as long to deliver its results")
    if answers is not None:
        same = sum(a == getattr(o, "content", o) for a, o in zip(answers, dot_batch.outputs))
        lines.append(f"identical answers: {same} of {len(answers)}")
    return "\n".join(lines)
