"""Lesson 06: the support chatbot as a web app (Starlette, ASGI).

Routes:
    GET  /                  the chat page (page.html: plain JS, no CDN)
    POST /api/chat          {"question"} -> SSE: sources, text deltas, done (or one error event)
    POST /api/chat_naive    the same answer from a background thread that never learns the
                            client left (the pattern of langchain-ai/langchain#8029's answers)
    GET  /api/stats         the app's counters (requests, completed, cancelled, errors, ...)
    /proxy/...              any route above behind `BufferingProxy` (like nginx's proxy_buffering)

The answer streams with `astream()`: retrieval, then prompt | model | parser (see
SupportBot.answer_chain for why not lesson 05's `rag.build_chain` in one piece).
Starlette's StreamingResponse watches for the client's `http.disconnect` while it sends,
and cancels the generator when it comes
(starlette/responses.py, StreamingResponse.__call__ and listen_for_disconnect); the
cancel travels down through LangChain into the HTTP read, which closes the model's
connection, so the model stops generating.
"""
from __future__ import annotations

import asyncio
import queue
import threading
import time
import weakref
from collections import Counter
from pathlib import Path

from langchain_core.callbacks import BaseCallbackHandler
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.routing import Route

from ..lessons.cost import load_prices, usage_cost
from .events import error_event, sse

PAGE = Path(__file__).with_name("page.html")
MAX_QUESTION_CHARS = 500
# Cache-Control: no-cache -- no cache may store or replay the stream; no-transform -- no proxy
# may recompress it (compression buffers). X-Accel-Buffering: no -- nginx passes each piece on at
# once instead of collecting the body (nginx docs, proxy_buffering).
STREAM_HEADERS = {"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}
COUNTERS = ("requests", "completed", "cancelled", "errors", "rejected_4xx", "in_flight", "peak_in_flight")


class ModelClock(BaseCallbackHandler):
    """Stamps the model call inside the chain: start, first token; keeps its usage."""

    run_inline = True

    def __init__(self, t0: float):
        self.t0, self.start_s, self.first_token_s, self.usage = t0, None, None, None

    def on_chat_model_start(self, *args, **kwargs):
        self.start_s = time.perf_counter() - self.t0

    def on_llm_new_token(self, token, **kwargs):
        if token and self.first_token_s is None:
            self.first_token_s = time.perf_counter() - self.t0

    def on_llm_end(self, response, **kwargs):
        try:
            self.usage = dict(response.generations[0][0].message.usage_metadata or {}) or None
        except (IndexError, AttributeError):
            pass


def bad_request(status: int, message: str, stats: dict) -> JSONResponse:
    stats["rejected_4xx"] += 1
    return JSONResponse({"error": {"message": message}}, status_code=status)


async def read_question(request: Request, allow_faults: bool) -> tuple[str, str | None] | JSONResponse:
    """(question, fault) from the JSON body, or a 4xx JSON answer with a one-line message."""
    stats = request.app.state.stats
    if int(request.headers.get("content-length") or 0) > 64 * 1024:
        return bad_request(413, "The request is too large: send only the question.", stats)
    try:
        body = await request.json()
    except ValueError:
        return bad_request(400, 'Send JSON like {"question": "How long is the return window?"}.', stats)
    question = body.get("question") if isinstance(body, dict) else None
    if not isinstance(question, str) or not question.strip():
        return bad_request(400, "Type a question first.", stats)
    if len(question) > MAX_QUESTION_CHARS:
        return bad_request(413, f"Your question has {len(question)} characters; the limit is "
                                f"{MAX_QUESTION_CHARS}. Shorten it and send again.", stats)
    fault = body.get("fault") if allow_faults else None
    return question.strip(), fault if isinstance(fault, str) and fault else None


def _source_list(docs) -> list[dict]:
    return [{"source": d.metadata.get("source", "?"), "title": d.metadata.get("title", ""),
             "snippet": d.page_content[:120].replace("\n", " ")} for d in docs]


def _done(clock: ModelClock, t0: float, sources_s, first_s, price) -> dict:
    total_s = time.perf_counter() - t0
    model_ttft = (clock.first_token_s - clock.start_s) if clock.first_token_s and clock.start_s else None
    timings = {"sources_s": sources_s, "ttft_s": first_s, "total_s": total_s,
               "model_start_s": clock.start_s, "model_ttft_s": model_ttft}
    return {"usage": clock.usage, "cost_usd": usage_cost(clock.usage, price) if clock.usage else None,
            "price_model": price.model, "timings": timings}


async def answer_events(app, question: str, fault: str | None, t0: float):
    """The SSE body of one answer: sources, deltas, done -- or one error event.

    The whole answer has one deadline (asyncio.timeout_at, around every wait), so a model
    that stalls, or sends a token a minute, still ends in `deadline_s`. A client that
    leaves raises CancelledError here (Starlette cancels us); it is counted and re-raised.
    """
    st, stats = app.state, app.state.stats
    clock = ModelClock(t0)
    deadline = asyncio.get_running_loop().time() + st.deadline_s
    sources_s = first_s = stream = None
    stats["in_flight"] += 1
    stats["peak_in_flight"] = max(stats["peak_in_flight"], stats["in_flight"])
    try:
        async with asyncio.timeout_at(deadline):
            docs = await st.bot.retriever.ainvoke(question)
        sources_s = time.perf_counter() - t0
        yield sse("sources", {"sources": _source_list(docs), "t_s": sources_s})
        stream = st.bot.answer_chain(fault).astream({"docs": docs, "question": question},
                                                    config={"callbacks": [clock]})
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    piece = await anext(stream)
            except StopAsyncIteration:
                break
            if piece:
                first_s = first_s if first_s is not None else time.perf_counter() - t0
                yield sse("delta", {"text": piece})
        stats["completed"] += 1
        yield sse("done", _done(clock, t0, sources_s, first_s, st.price))
    except (asyncio.CancelledError, GeneratorExit):
        stats["cancelled"] += 1
        raise
    except Exception as exc:  # noqa: BLE001 -- every failure becomes one line for the page
        stats["errors"] += 1
        kind, message = error_event(exc, st.deadline_s)
        yield sse("error", {"kind": kind, "message": message})
    finally:
        stats["in_flight"] -= 1
        if stream is not None:
            await _close(stream)


async def _close(stream) -> None:
    try:
        await stream.aclose()   # cancels the model call if it is still running (timeout, error)
    except BaseException:  # noqa: BLE001 -- already cancelled: the cancel closed it on its way
        pass


async def chat(request: Request):
    t0 = time.perf_counter()
    request.app.state.stats["requests"] += 1
    asked = await read_question(request, request.app.state.allow_faults)
    if isinstance(asked, JSONResponse):
        return asked
    st = request.app.state
    user = request.headers.get("x-user") or (request.client.host if request.client else "?")
    if st.per_user_cap and st.user_in_flight[user] >= st.per_user_cap:
        return bad_request(429, f"You already have {st.per_user_cap} answer(s) in progress: wait for one "
                                "to finish, then ask again.", st.stats)
    events = answer_events(request.app, *asked, t0)
    st.user_in_flight[user] += 1   # given back when the answer's generator is gone, however it ended
    weakref.finalize(events, _release, st.user_in_flight, user)
    return StreamingResponse(events, media_type="text/event-stream", headers=STREAM_HEADERS)


def _release(in_flight: Counter, user: str) -> None:
    in_flight[user] -= 1
    if in_flight[user] <= 0:
        del in_flight[user]


def naive_events(bot, question: str, fault: str | None, stats: dict):
    """A sync generator that never asks whether anyone is still listening. Its answer comes
    from a thread that streams the chain into a queue, so the model call runs to its end."""
    pieces: queue.Queue = queue.Queue()

    def produce():
        try:
            for piece in bot.chain_for(fault).stream(question):
                pieces.put(piece)
        except Exception as exc:  # noqa: BLE001
            pieces.put(exc)
        pieces.put(None)
        stats["naive_finished"] += 1

    threading.Thread(target=produce, daemon=True).start()
    while (piece := pieces.get()) is not None:
        if isinstance(piece, Exception):
            yield sse("error", {"kind": "upstream_error", "message": "The model failed: ask again."})
            return
        if "docs" in piece:
            yield sse("sources", {"sources": _source_list(piece["docs"])})
        if piece.get("answer"):
            yield sse("delta", {"text": piece["answer"]})
    yield sse("done", {})


async def chat_naive(request: Request):
    request.app.state.stats["requests"] += 1
    asked = await read_question(request, request.app.state.allow_faults)
    if isinstance(asked, JSONResponse):
        return asked
    body = naive_events(request.app.state.bot, *asked, request.app.state.stats)
    return StreamingResponse(body, media_type="text/event-stream", headers=STREAM_HEADERS)


async def page(request: Request):
    return HTMLResponse(PAGE.read_text(encoding="utf-8"), headers={"Cache-Control": "no-cache"})


async def stats(request: Request):
    return JSONResponse(request.app.state.stats)


async def reset_stats(request: Request):
    s = request.app.state.stats
    s.update({k: 0 for k in s if k != "in_flight"}, peak_in_flight=s["in_flight"])
    return JSONResponse(s)


class BufferingProxy:
    """ASGI middleware that behaves like nginx with `proxy_buffering on` (lesson 06): under
    /proxy/ it collects a response's whole body and sends it in one piece, unless the
    response says `X-Accel-Buffering: no`. `?bare=1` strips the app's anti-buffering headers
    first, to show what happens without them."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/proxy/"):
            return await self.app(scope, receive, send)
        bare = b"bare=1" in scope.get("query_string", b"")
        scope = {**scope, "path": scope["path"][6:], "raw_path": scope.get("raw_path", b"")[6:]}
        held: dict = {"start": None, "parts": [], "pass": False}

        async def proxy_send(msg):
            if msg["type"] == "http.response.start":
                headers = [(k, v) for k, v in msg["headers"]
                           if not (bare and k.lower() in (b"x-accel-buffering", b"cache-control"))]
                msg = {**msg, "headers": headers}
                held["pass"] = (b"x-accel-buffering", b"no") in [(k.lower(), v) for k, v in headers]
                if held["pass"]:
                    return await send(msg)
                held["start"] = msg
            elif held["pass"]:
                await send(msg)
            else:
                held["parts"].append(msg.get("body", b""))
                if not msg.get("more_body", False):
                    await send(held["start"])
                    await send({"type": "http.response.body", "body": b"".join(held["parts"])})

        await self.app(scope, receive, proxy_send)


def create_app(bot=None, deadline_s: float = 60.0, allow_faults: bool = False, max_tokens: int = 200,
               timeout_s: float = 30.0, per_user_cap: int = 0, k: int = 4) -> Starlette:
    """The chat app (lesson 06). bot: a SupportBot (default: built at startup from the backend
    switch). deadline_s: the most one answer may take. allow_faults: let a request's JSON
    "fault" reach the simulator as X-Sim-Fault (tests and the lesson only). per_user_cap: answers
    one user (header X-User, else the client's address) may have in flight; more get a 429 (0: no cap).
    k: chunks retrieved into each prompt."""
    from .support import build_support_bot

    async def lifespan(app):
        if app.state.bot is None:
            app.state.bot = await asyncio.to_thread(build_support_bot, max_tokens, timeout_s, k)
        yield

    app = Starlette(routes=[Route("/", page), Route("/api/chat", chat, methods=["POST"]),
                            Route("/api/chat_naive", chat_naive, methods=["POST"]),
                            Route("/api/stats", stats), Route("/api/stats/reset", reset_stats, methods=["POST"])],
                    lifespan=lifespan)
    app.state.bot, app.state.deadline_s, app.state.allow_faults = bot, deadline_s, allow_faults
    app.state.per_user_cap, app.state.user_in_flight = per_user_cap, Counter()
    app.state.stats = {**dict.fromkeys(COUNTERS, 0), "naive_finished": 0}
    prices = load_prices()
    app.state.price = prices[prices.default_model]
    app.add_middleware(BufferingProxy)
    return app
