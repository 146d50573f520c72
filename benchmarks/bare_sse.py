"""A bare, minimal OpenAI-style SSE endpoint: the yardstick for the simulator's capacity.

It answers every chat request with the same pre-built chunks (one per token,
the simulator's answer to "Explain streaming"), as fast as it can, using
Starlette's StreamingResponse. No latency model, no validation, no counters.
"""
import json
import socket
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from helpers.llm_server import text  # noqa: E402

TOKENS = text.tokenize(text.answer([{"role": "user", "content": "Explain streaming"}]))


def chunk(delta, finish=None):
    return ("data: " + json.dumps({"id": "bare", "object": "chat.completion.chunk", "created": 0, "model": "sim",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) + "\n\n").encode()


async def chat(request):
    await request.body()

    async def gen():
        yield chunk({"role": "assistant", "content": ""})
        for t in TOKENS:
            yield chunk({"content": t})
        yield chunk({}, "stop")
        yield b"data: [DONE]\n\n"
    return StreamingResponse(gen(), media_type="text/event-stream")


if __name__ == "__main__":
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    print(f"http://127.0.0.1:{sock.getsockname()[1]}/v1", flush=True)
    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])
