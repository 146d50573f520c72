"""The simulated OpenAI-compatible server: HTTP on top of the latency model.

Routes: POST /v1/chat/completions (JSON, or SSE with `stream: true`),
GET /v1/models, POST /v1/embeddings, GET /health, GET /metrics (Prometheus text,
vLLM's names: metrics.py), and the simulator's own
GET /v1/sim/stats, POST /v1/sim/stats/reset, GET /v1/sim/config and
POST /v1/sim/release (body {"name": ...}: lets held requests go on).
OpenAI's Files and Batches: /v1/files... (files.py) and /v1/batches... (batches.py).

This module holds only the routes. The work is elsewhere: chat.py runs a chat
completion (scheduling, JSON/SSE, timing headers), embed.py an embeddings
request, faults.py reads X-Sim-Fault, errors.py shapes errors as OpenAI does,
state.py holds the engines and counters, limits.py the rate limits and
classroom.py (with dashboard.py) the classroom mode added by __main__.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import batches, chat, embed, files, latency
from .errors import error, http_error
from .faults import fault_response, faults_for
from .metrics import metrics_route
from .state import SimConfig, Simulator
from .validate import BadRequest, parse_chat, parse_embeddings, read_json_body


def api_key(request: Request) -> str:
    """A short, non-reversible id for the caller's key (never the key itself);
    in classroom mode the student's name (set by classroom.ClassroomGate)."""
    if request.scope.get("classroom.student"):
        return request.scope["classroom.student"]
    auth = request.headers.get("authorization", "")
    key = auth[7:] if auth.lower().startswith("bearer ") else auth
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:8]


async def chat_completions(request: Request) -> Response:
    sim: Simulator = request.app.state.sim
    key = api_key(request)
    try:
        req = parse_chat(await read_json_body(request, sim.cfg.max_body_bytes), sim.models)
    except BadRequest as e:
        return error(e.status, e.message, code=e.code, param=e.param)
    sim.count(key, "attempts")
    fault, deaf = faults_for(request)
    if fault in ("429", "500"):
        return fault_response(sim, key, fault)
    return chat.start(sim, key, req, fault, deaf)


async def embeddings(request: Request) -> Response:
    sim: Simulator = request.app.state.sim
    try:
        req = parse_embeddings(await read_json_body(request, sim.cfg.max_body_bytes), sim.models)
    except BadRequest as e:
        return error(e.status, e.message, code=e.code, param=e.param)
    return await embed.run(sim, api_key(request), req)


async def models(request: Request) -> Response:
    names = request.app.state.sim.models
    return JSONResponse({"object": "list", "data": [
        {"id": m, "object": "model", "created": 0, "owned_by": "course-simulator"} for m in names]})


async def health(request: Request) -> Response:
    snap = request.app.state.sim.snapshot()
    return JSONResponse({"status": "ok", "in_flight": snap["in_flight"],
                         "busy_slots": snap["busy_slots"], "queue_depth": snap["queue_depth"]})


NO_STORE = {"cache-control": "no-store"}  # counters are the numbers of now, never cached


async def stats(request: Request) -> Response:
    return JSONResponse(request.app.state.sim.snapshot(), headers=NO_STORE)


async def reset_stats(request: Request) -> Response:
    # JSON only: a cross-site HTML form (text/plain, urlencoded, multipart) cannot reset
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        return error(415, "Send this POST with Content-Type: application/json (e.g. the body {}).",
                     code="json_required", headers=NO_STORE)
    sim: Simulator = request.app.state.sim
    sim.reset()  # requests still running keep being counted, in total and per key
    return JSONResponse(sim.snapshot(), headers=NO_STORE)


async def release(request: Request) -> Response:
    """Let requests held by `X-Sim-Fault: hold:NAME` go on: body {"name": "NAME"}."""
    try:
        name = (await request.json())["name"]
        if not isinstance(name, str) or not name:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        return error(400, 'Send {"name": "<the NAME of X-Sim-Fault: hold:NAME>"}.', param="name")
    n = request.app.state.sim.release(name.strip().lower())
    return JSONResponse({"name": name, "released": n})


async def config(request: Request) -> Response:
    sim = request.app.state.sim
    return JSONResponse({"default_model": "sim", "profile": sim.cfg.profile.to_dict(),
                         "seed": sim.cfg.seed, "models": sim.models})


def create_app(profile: str = latency.DEFAULT_PROFILE, time_scale: float = 1.0, seed: int = 0,
               file_limits: dict | None = None, **overrides) -> Starlette:
    """The ASGI app. `overrides` replace profile fields, e.g. slots=4, rpm_limit=None;
    `file_limits` the Files/Batches caps (files.Limits fields, e.g. max_file_bytes=1000)."""
    prof = latency.get_profile(profile, time_scale)
    if overrides:
        prof = replace(prof, **overrides)
    app = Starlette(routes=[
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics_route, methods=["GET"]),
        Route("/v1/sim/stats", stats, methods=["GET"]),
        Route("/v1/sim/stats/reset", reset_stats, methods=["POST"]),
        Route("/v1/sim/config", config, methods=["GET"]),
        Route("/v1/sim/release", release, methods=["POST"]),
        Route("/v1/files", files.create, methods=["POST"]),
        Route("/v1/files", files.list_files, methods=["GET"]),
        Route("/v1/files/{file_id}", files.retrieve, methods=["GET"]),
        Route("/v1/files/{file_id}", files.delete, methods=["DELETE"]),
        Route("/v1/files/{file_id}/content", files.content, methods=["GET"]),
        Route("/v1/batches", batches.create, methods=["POST"]),
        Route("/v1/batches", batches.list_batches, methods=["GET"]),
        Route("/v1/batches/{batch_id}", batches.retrieve, methods=["GET"]),
        Route("/v1/batches/{batch_id}/cancel", batches.cancel, methods=["POST"]),
    ], exception_handlers={HTTPException: http_error})
    app.state.sim = Simulator(SimConfig(prof, seed))
    batches.install(app, file_limits)  # files and batches in memory: nothing on disk to clean up
    return app
