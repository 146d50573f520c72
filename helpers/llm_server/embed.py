"""Running one embeddings request: rate limits, the time to read the texts (no
slot: the fixed overhead plus prefill), and the vectors as floats or base64."""
from __future__ import annotations

import asyncio
import base64
import struct

from starlette.responses import JSONResponse, Response

from . import latency, text
from .errors import rate_limited
from .state import Simulator
from .validate import EmbeddingsRequest


async def run(sim: Simulator, key: str, req: EmbeddingsRequest) -> Response:
    prof = sim.engine(req.model).sched.profile
    n_tokens = sum(text.count_tokens(t) for t in req.inputs)
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
    data = []
    for i, t in enumerate(req.inputs):
        vec = text.embed(t, req.dimensions)
        emb = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode() \
            if req.encoding_format == "base64" else vec
        data.append({"object": "embedding", "index": i, "embedding": emb})
    sim.count(key, "prompt_tokens", n_tokens)
    return JSONResponse({"object": "list", "data": data, "model": req.model,
                         "usage": {"prompt_tokens": n_tokens, "total_tokens": n_tokens}},
                        headers=sim.limiter.headers(key, sim.engine(req.model).now()))  # x-ratelimit-*
