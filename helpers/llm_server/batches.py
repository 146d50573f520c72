"""OpenAI's Batches endpoints: POST /v1/batches, GET /v1/batches (`limit`, `after`),
GET /v1/batches/{batch_id}, POST /v1/batches/{batch_id}/cancel (registered in app.py).

A batch goes `validating → in_progress → finalizing → completed`, or ends `failed`
(its file did not validate, batch_input.py), `expired` (its window ran out) or
`cancelling → cancelled`. batch_run.py runs its requests through the same latency
model as interactive traffic, at low priority.

The window: `completion_window` must be "24h", as at OpenAI; one simulated hour
lasts `files.Limits.hour_s * time_scale` seconds (10 s by default), so the 24 h
window of a lesson's batch is 4 minutes at real speed (`expires_at` says when).
Knobs for lessons and tests, in the header `X-Sim-Fault` of batches.create (comma-separated):
  `wait:H`        the provider starts the batch only after H simulated hours (H >= 24: it expires);
  `expire:N`      the window runs out right after N requests have finished;
  `hold:NAME:N`   pause after N requests until POST /v1/sim/release names NAME (`hold:NAME`: N=0).
"""
from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import batch_run
from .batch_input import ENDPOINTS, count_lines
from .errors import error
from .files import FileStore, owner, page
from .validate import BadRequest, read_json_body

TERMINAL = ("completed", "failed", "expired", "cancelled")


@dataclass(frozen=True)
class Knobs:
    """A batch's faults (X-Sim-Fault)."""

    wait_hours: float = 0.0
    pause_after: int | None = None   # requests done before the pause (hold or expiry)
    hold: str | None = None          # hold:NAME[:N]: wait for POST /v1/sim/release
    expire: bool = False             # expire:N: the window ends at the pause


def parse_knobs(header: str) -> Knobs:
    """Knobs from `X-Sim-Fault`; ValueError with a plain message if malformed."""
    k: dict = {}
    for part in (p.strip().lower() for p in header.split(",")):
        kind, _, rest = part.partition(":")
        try:
            if kind == "wait":
                k["wait_hours"] = float(rest)
                if not 0 <= k["wait_hours"] <= 1000:
                    raise ValueError
            elif kind == "expire":
                k["expire"], k["pause_after"] = True, int(rest)
            elif kind == "hold" and rest:
                name, _, n = rest.partition(":")
                k["hold"], k["pause_after"] = name, int(n) if n else 0
            elif part:
                raise ValueError
        except ValueError:
            raise ValueError(f"Unknown batch fault {part[:40]!r}: use wait:H, expire:N or hold:NAME[:N].") from None
    return Knobs(**k)


@dataclass
class Batch:
    """One batch, shaped as OpenAI's Batch object by `to_dict`."""

    id: str
    input_file_id: str
    endpoint: str
    metadata: dict | None
    window_s: float
    knobs: Knobs
    owner: str = ""
    status: str = "validating"
    model: str | None = None
    created_at: int = field(default_factory=lambda: int(time.time()))
    times: dict = field(default_factory=dict)          # in_progress_at, completed_at, ... -> Unix seconds
    errors: list | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict = field(default_factory=lambda: {"total": 0, "completed": 0, "failed": 0})
    usage: dict = field(default_factory=lambda: {"input_tokens": 0, "output_tokens": 0})
    wake: asyncio.Event = field(default_factory=asyncio.Event)   # set by cancel
    t0: float = field(default_factory=time.monotonic)

    def mark(self, status: str) -> None:
        self.status = status
        self.times[f"{status}_at"] = int(time.time())

    def to_dict(self) -> dict:
        u = self.usage
        return {
            "id": self.id, "object": "batch", "endpoint": self.endpoint, "model": self.model,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id, "completion_window": "24h", "status": self.status,
            "output_file_id": self.output_file_id, "error_file_id": self.error_file_id,
            "created_at": self.created_at, "expires_at": self.created_at + round(self.window_s),
            **{f"{s}_at": self.times.get(f"{s}_at") for s in
               ("in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled")},
            "request_counts": dict(self.counts), "metadata": self.metadata,
            "usage": {"input_tokens": u["input_tokens"], "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens": u["output_tokens"], "output_tokens_details": {"reasoning_tokens": 0},
                      "total_tokens": u["input_tokens"] + u["output_tokens"]},
        }


class BatchStore:
    """The batches of one server, and the tasks that run them."""

    def __init__(self):
        self.batches: dict[str, Batch] = {}
        self.tasks: set[asyncio.Task] = set()
        self._ids = itertools.count(1)

    def new_id(self) -> str:
        return f"batch_sim{next(self._ids):06d}"


def _metadata(value) -> dict | None:
    if value is None:
        return None
    if not (isinstance(value, dict) and len(value) <= 16 and all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= 512 for k, v in value.items())):
        raise BadRequest("'metadata' must be an object of at most 16 string pairs (keys up to 64 characters, "
                         "values up to 512).", "metadata")
    return value


async def create(request: Request) -> Response:
    sim, files, store = request.app.state.sim, request.app.state.files, request.app.state.batches
    try:
        body = await read_json_body(request, sim.cfg.max_body_bytes)
        endpoint, window, fid = body.get("endpoint"), body.get("completion_window"), body.get("input_file_id")
        if endpoint not in ENDPOINTS:
            raise BadRequest(f"'endpoint' must be one of {list(ENDPOINTS)} on this simulator.", "endpoint")
        if window != "24h":
            raise BadRequest("'completion_window' must be '24h' (the only window OpenAI offers).",
                             "completion_window")
        metadata = _metadata(body.get("metadata"))
        knobs = parse_knobs(request.headers.get("x-sim-fault", ""))
    except BadRequest as e:
        return error(e.status, e.message, code=e.code, param=e.param)
    except ValueError as e:
        return error(400, str(e))
    me = owner(request)
    f = files.get(fid, me) if isinstance(fid, str) else None
    if f is None:
        return error(404, f"No such File object: {str(fid)[:80]}", param="input_file_id", code="not_found")
    if f.purpose != "batch":
        return error(400, f"The file {fid} has purpose {f.purpose!r}: upload it with purpose='batch'.",
                     param="input_file_id")
    n = count_lines(f.data)
    if n > files.limits.max_batch_lines:
        return error(400, f"The input file holds {n} requests: at most {files.limits.max_batch_lines} per batch "
                     "here (OpenAI: 50,000). Split it into several batches.", param="input_file_id",
                     code="too_many_requests")
    window_s = 24 * files.limits.hour_s * sim.cfg.profile.time_scale
    batch = Batch(store.new_id(), fid, endpoint, metadata, window_s, knobs, me)
    store.batches[batch.id] = batch
    task = asyncio.ensure_future(batch_run.run(sim, files, batch, f.data))
    store.tasks.add(task)
    task.add_done_callback(store.tasks.discard)
    return JSONResponse(batch.to_dict())


def _get(request: Request) -> Batch | Response:
    bid = request.path_params["batch_id"]
    batch = request.app.state.batches.batches.get(bid)
    if batch is not None and batch.owner != owner(request):
        batch = None
    return batch or error(404, f"No such Batch object: {bid[:80]}", param="batch_id", code="not_found")


async def retrieve(request: Request) -> Response:
    batch = _get(request)
    return batch if isinstance(batch, Response) else JSONResponse(batch.to_dict())


async def cancel(request: Request) -> Response:
    batch = _get(request)
    if isinstance(batch, Response):
        return batch
    if batch.status in TERMINAL or batch.status in ("finalizing", "cancelling"):
        return error(400, f"Cannot cancel a batch whose status is {batch.status!r}.", param="batch_id")
    batch.mark("cancelling")
    batch.wake.set()
    if batch.model:
        request.app.state.sim.engine(batch.model).poke()
    return JSONResponse(batch.to_dict())


async def list_batches(request: Request) -> Response:
    me = owner(request)
    items = [b.to_dict() for b in reversed(request.app.state.batches.batches.values()) if b.owner == me]  # newest 1st
    return page(items, request, 20, 100)


def install(app, limits=None) -> None:
    """Give `app` an in-memory file store and a batch store (create_app calls it)."""
    from .files import Limits
    app.state.files = FileStore(limits if isinstance(limits, Limits) else Limits(**(limits or {})))
    app.state.batches = BatchStore()
