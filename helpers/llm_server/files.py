"""OpenAI's Files endpoints, enough for a Batch API: the simulator keeps files in memory.

Routes (registered in app.py): POST /v1/files (multipart: `file`, `purpose=batch`),
GET /v1/files (`limit`, `after`, `order`, `purpose`), GET /v1/files/{file_id},
GET /v1/files/{file_id}/content, DELETE /v1/files/{file_id}.

Each file belongs to the API key (or classroom student) that uploaded it: another key
gets a 404, as another OpenAI project would. Files live in a dict in the server process,
never on disk, so nothing is written inside the course folder and nothing is left behind
when the server stops.
Caps (`Limits`): the size of one file, the bytes stored in all (uploads and the
batches' output files), and the requests in one batch (checked by batches.py).
Over a cap, or a malformed upload, is a 4xx in OpenAI's error shape.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from .errors import error

PURPOSES = ("batch",)  # what this simulator stores; OpenAI has more (fine-tune, assistants, ...)


@dataclass(frozen=True)
class Limits:
    """The simulator's caps for files and batches (OpenAI's: 200 MB a batch file, 50,000 requests),
    and the length of a batch window's simulated hour."""

    max_file_bytes: int = 10_000_000     # one uploaded file
    max_total_bytes: int = 50_000_000    # every stored file together, outputs included
    max_batch_lines: int = 10_000        # requests in one batch
    hour_s: float = 10.0                 # one simulated hour of a batch's 24 h window, at time scale 1


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    owner: str = ""
    created_at: int = field(default_factory=lambda: int(time.time()))

    def to_dict(self) -> dict:
        return {"id": self.id, "object": "file", "bytes": len(self.data), "created_at": self.created_at,
                "filename": self.filename, "purpose": self.purpose, "status": "processed",
                "expires_at": None, "status_details": None}


class StorageFull(Exception):
    """Storing a file would go over `Limits.max_total_bytes`."""


class FileStore:
    """Files in memory, with a cap on the bytes stored in all."""

    def __init__(self, limits: Limits | None = None):
        self.limits = limits or Limits()
        self.files: dict[str, StoredFile] = {}
        self._ids = itertools.count(1)

    @property
    def total_bytes(self) -> int:
        return sum(len(f.data) for f in self.files.values())

    def add(self, filename: str, purpose: str, data: bytes, owner: str = "") -> StoredFile:
        """Store a file; StorageFull if the store would go over its cap."""
        if self.total_bytes + len(data) > self.limits.max_total_bytes:
            raise StorageFull(f"Storing {len(data)} more bytes would go over the simulator's cap of "
                              f"{self.limits.max_total_bytes} bytes for all files: delete some files first.")
        f = StoredFile(f"file-sim{next(self._ids):06d}", filename, purpose, data, owner)
        self.files[f.id] = f
        return f

    def get(self, file_id: str, owner: str) -> StoredFile | None:
        f = self.files.get(file_id)
        return f if f is not None and f.owner == owner else None


def owner(request: Request) -> str:
    """Who owns what this request creates: the caller's key id, as app.api_key counts it."""
    from .app import api_key  # (app imports this module)
    return api_key(request)


def store(request: Request) -> FileStore:
    return request.app.state.files


def not_found(file_id: str) -> Response:
    return error(404, f"No such File object: {file_id[:80]}", param="id", code="not_found")


async def read_limited(request: Request, limit: int) -> bytes | Response:
    """The raw body, or a 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length", "")
    too_big = error(413, f"The upload is too large: one file may hold at most {limit} bytes here.",
                    param="file", code="file_too_large")
    if declared.isascii() and declared.isdigit() and (len(declared) > 15 or int(declared) > limit + 65536):
        return too_big
    chunks, size = [], 0
    try:
        async for part in request.stream():
            size += len(part)
            if size > limit + 65536:  # the form's own headers and boundaries are small
                return too_big
            chunks.append(part)
    except ClientDisconnect:
        return error(400, "The client disconnected while sending the file.")
    return b"".join(chunks)


def parse_multipart(body: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """The fields of a multipart/form-data body: {name: (filename or None, bytes)}.
    ValueError with a plain message if it is not well formed."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        raise ValueError("Send the file as multipart/form-data (fields 'file' and 'purpose').")
    boundary = ""
    for p in params.split(";"):
        k, _, v = p.strip().partition("=")
        if k.lower() == "boundary":
            boundary = v.strip().strip('"')
    if not boundary or len(boundary) > 200:
        raise ValueError("The multipart body has no boundary.")
    sep = b"--" + boundary.encode("latin-1", "replace")
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in body.split(sep)[1:]:
        if part.startswith(b"--"):
            break  # the closing boundary
        head, found, data = part.partition(b"\r\n\r\n")
        if not found:
            raise ValueError("A part of the multipart body has no blank line after its headers.")
        name = filename = None
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            if key.strip().lower() == "content-disposition":
                for item in value.split(";"):
                    k, _, v = item.strip().partition("=")
                    if k.lower() == "name":
                        name = v.strip('"')
                    elif k.lower() == "filename":
                        filename = v.strip('"')
        if name is None:
            raise ValueError("A part of the multipart body has no name.")
        fields[name] = (filename, data[:-2] if data.endswith(b"\r\n") else data)
    return fields


async def create(request: Request) -> Response:
    """POST /v1/files: multipart with `file` and `purpose`."""
    files = store(request)
    body = await read_limited(request, files.limits.max_file_bytes)
    if isinstance(body, Response):
        return body
    try:
        fields = parse_multipart(body, request.headers.get("content-type", ""))
    except ValueError as e:
        return error(400, str(e))
    purpose = fields.get("purpose", (None, b""))[1].decode("utf-8", "replace").strip()
    if "file" not in fields:
        return error(400, "Missing the 'file' field: send the file itself (not its name).", param="file")
    if purpose not in PURPOSES:
        return error(400, f"'purpose' must be one of {list(PURPOSES)} on this simulator, got {purpose[:40]!r}.",
                     param="purpose")
    filename, data = fields["file"]
    if len(data) > files.limits.max_file_bytes:
        return error(413, f"The file has {len(data)} bytes: at most {files.limits.max_file_bytes} here.",
                     param="file", code="file_too_large")
    try:
        f = files.add((filename or "upload.jsonl")[:255], purpose, data, owner(request))
    except StorageFull as e:
        return error(400, str(e), param="file", code="storage_limit_exceeded")
    return JSONResponse(f.to_dict())


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) < 10 and lo <= int(raw) <= hi):
        raise ValueError(f"'{name}' must be a whole number from {lo} to {hi}")
    return int(raw)


def page(items: list[dict], request: Request, default_limit: int, max_limit: int) -> Response:
    """One page of a cursor list, as OpenAI returns it (`after` = the last id you saw)."""
    try:
        limit = _int_param(request, "limit", default_limit, 1, max_limit)
    except ValueError as e:
        return error(400, str(e), param="limit")
    after = request.query_params.get("after")
    if after:
        ids = [i["id"] for i in items]
        if after not in ids:
            return error(400, f"'after' names no object in this list: {after[:80]}", param="after")
        items = items[ids.index(after) + 1:]
    data = items[:limit]
    return JSONResponse({"object": "list", "data": data, "has_more": len(items) > limit,
                         "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None})


async def list_files(request: Request) -> Response:
    me = owner(request)
    files = [f for f in store(request).files.values() if f.owner == me]
    purpose = request.query_params.get("purpose")
    if purpose:
        files = [f for f in files if f.purpose == purpose]
    if request.query_params.get("order", "desc") == "desc":
        files.reverse()
    return page([f.to_dict() for f in files], request, 10_000, 10_000)


async def retrieve(request: Request) -> Response:
    fid = request.path_params["file_id"]
    f = store(request).get(fid, owner(request))
    return JSONResponse(f.to_dict()) if f else not_found(fid)


async def content(request: Request) -> Response:
    fid = request.path_params["file_id"]
    f = store(request).get(fid, owner(request))
    return Response(f.data, media_type="application/octet-stream") if f else not_found(fid)


async def delete(request: Request) -> Response:
    fid = request.path_params["file_id"]
    if store(request).get(fid, owner(request)) is None:
        return not_found(fid)
    del store(request).files[fid]
    return JSONResponse({"id": fid, "object": "file", "deleted": True})
