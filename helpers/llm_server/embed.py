"""Running one embeddings request: rate limits, the time to read the texts (no
slot: the fixed overhead plus prefill), and the vectors as floats or base64.

Guards (issue 16): a request asks for at most MAX_NUMBERS numbers (inputs x
dimensions; more is a 400 in OpenAI's error shape), the numbers a key receives
count against `Simulator.embed_out` (state.EMBED_NUMBERS_PER_MIN per key per minute,
429 beyond), and the vectors and their JSON are made in a worker thread, one
request at a time, so the event loop keeps answering everyone else."""
from __future__ import annotations

import asyncio
import base64
import json
import struct

import anyio
import anyio.to_thread
from starlette.responses import Response

from . import latency, text
from .errors import error, rate_limited
from .state import Simulator
from .validate import EmbeddingsRequest

MAX_NUMBERS = 131_072   # inputs x dimensions per request: 512 KB of float32 (e.g. 128 x 1024, 512 x 256)
_threads: dict[int, anyio.CapacityLimiter] = {}


async def run(sim: Simulator, key: str, req: EmbeddingsRequest) -> Response:
    numbers = len(req.inputs) * req.dimensions
    if numbers > MAX_NUMBERS:  # checked first: a refused request leaves no trace
        return error(400, f"Too many numbers requested: {len(req.inputs)} inputs x {req.dimensions} "
                          f"dimensions = {numbers:,}; at most {MAX_NUMBERS:,} per request on this "
                          "simulator. Send fewer inputs per request or fewer dimensions.",
                     param="dimensions" if req.dimensions > 256 else "input")
    prof = sim.engine(req.model).sched.profile
    n_tokens = sum(text.count_tokens(t) for t in req.inputs)
    limited = sim.embed_out.check(key, sim.engine(req.model).now(), numbers)
    if limited:
        limited = ("embedding numbers returned", limited[1])
    else:
        limited = sim.limiter.check(key, sim.engine(req.model).now(), n_tokens)
    sim.count(key, "attempts")
    if limited:
        resp = rate_limited(sim, key, f"Rate limit reached for {limited[0]} per minute", limited[1])
        resp.headers.update(sim.limiter.headers(key, sim.engine(req.model).now()))  # x-ratelimit-*
        return resp
    times = sim.metrics.start(sim.engine(req.model).now())  # for /metrics (metrics.py)
    sim.count(key, "in_flight")
    try:  # embeddings take no slot: the fixed overhead plus reading the texts
        await asyncio.sleep(latency.prefill_s(prof, n_tokens))
    finally:
        sim.count(key, "in_flight", -1)
    sim.count(key, "completed")
    times.finished(sim.engine(req.model).now(), 0, "stop")
    sim.count(key, "prompt_tokens", n_tokens)
    loop = id(asyncio.get_running_loop())
    one_at_a_time = _threads.get(loop) or _threads.setdefault(loop, anyio.CapacityLimiter(1))
    body = await anyio.to_thread.run_sync(vectors_json, req, n_tokens, limiter=one_at_a_time)
    return Response(body, media_type="application/json",
                    headers=sim.limiter.headers(key, sim.engine(req.model).now()))  # x-ratelimit-*


def vectors_json(req: EmbeddingsRequest, n_tokens: int) -> bytes:
    """The response body (CPU work: run it off the event loop). JSON as Starlette writes it."""
    data = []
    for i, t in enumerate(req.inputs):
        vec = text.embed(t, req.dimensions)
        emb = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode() \
            if req.encoding_format == "base64" else vec
        data.append({"object": "embedding", "index": i, "embedding": emb})
    return json.dumps({"object": "list", "data": data, "model": req.model,
                       "usage": {"prompt_tokens": n_tokens, "total_tokens": n_tokens}},
                      ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()
