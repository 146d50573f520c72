"""Server-side batching on a real model: llama.cpp's slots (lesson 03, section 6).

`.batch()` only decides how many requests are *in flight*. Whether the server
works on them at the same time is the server's business: llama.cpp has
`n_parallel` slots and decodes the active ones together (continuous batching).
Here we measure throughput for a grid of `n_parallel` x `max_concurrency` on the
real SmolLM2 model, and draw the simulator's latency model for the same grid.
"""
from __future__ import annotations

from dataclasses import replace

from . import plots
from .llm_server.latency import Job, get_profile, makespan_s, predict_batch
from .timing import BatchResult, measure_batch


def local_slots_sweep(n_parallels=(1, 4), concurrencies=(1, 2, 4, 8), n_prompts: int = 6,
                      max_tokens: int = 16) -> dict[tuple[int, int], BatchResult]:
    """Throughput of the real local model for each (n_parallel, max_concurrency).

    Starts one llama.cpp server per n_parallel (reused later); every run sends
    the same `n_prompts` short prompts with temperature 0 and `max_tokens`.
    """
    from .local_model import start_local_server

    if not isinstance(n_prompts, int) or n_prompts < 1 or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError("n_prompts and max_tokens must be whole numbers >= 1, e.g. 6 and 16")
    prompts = [f"Name one use of a lamp, number {i}." for i in range(n_prompts)]
    results = {}
    for n_par in n_parallels:
        srv = start_local_server(n_parallel=n_par)
        llm = chat_model_for(srv, max_tokens)
        measure_batch(llm, prompts[:1], 1)  # warm-up
        for c in concurrencies:
            results[n_par, c] = measure_batch(llm, prompts, c)
    return results


def chat_model_for(srv, max_tokens: int):
    """A ChatOpenAI for one particular local llama.cpp server."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(base_url=srv.base_url, model=srv.model, api_key="not-needed", timeout=120,
                      max_retries=0, temperature=0, max_tokens=max_tokens, stream_usage=True,
                      default_headers={"Connection": "close"})


def predicted_grid(results: dict[tuple[int, int], BatchResult], profile: str = "local-cpu"
                   ) -> dict[tuple[int, int], float]:
    """Tokens/s the simulator's latency model predicts for the same grid and token counts."""
    out = {}
    for (n_par, c), r in results.items():
        prof = replace(get_profile(profile), slots=n_par)
        jobs = [Job(30, max(1, q.completion_tokens)) for q in r.requests]
        out[n_par, c] = sum(j.completion_tokens for j in jobs) / makespan_s(predict_batch(prof, jobs, c))
    return out


def slots_figure(results: dict[tuple[int, int], BatchResult], predicted: dict[tuple[int, int], float]):
    """Two panels: measured tokens/s on the real model, and the latency model's prediction."""
    fig, (a1, a2) = plots._new(figsize=(10, 4), ncols=2)
    styles = {1: ("o-", plots.MODE_COLORS["invoke"]), 4: ("s-", plots.MODE_COLORS["batch"])}
    for n_par in sorted({k[0] for k in results}):
        cs = sorted(c for p, c in results if p == n_par)
        marker, colour = styles.get(n_par, ("^-", plots.MODE_COLORS["other"]))
        a1.plot(cs, [results[n_par, c].tokens_per_s for c in cs], marker, color=colour,
                label=f"n_parallel={n_par} slots, {plots.MEASURED}")
        a2.plot(cs, [predicted[n_par, c] for c in cs], marker.replace("-", "--"), color=colour,
                label=f"slots={n_par}, {plots.PREDICTED}")
    for a in (a1, a2):
        a.set_xscale("log", base=2)
        cs = sorted({c for _, c in results})
        a.set_xticks(cs, [str(c) for c in cs])
        a.set(xlabel="max_concurrency (requests in flight)", ylabel="tokens/s, all requests together")
        a.set_ylim(bottom=0)
        a.legend(fontsize="small")
    a1.set_title("Real SmolLM2 on this CPU (llama.cpp)")
    a2.set_title('Simulator\'s model, profile "local-cpu"')
    fig.suptitle("Concurrency helps only as far as the server's slots and hardware let it")
    return fig, (a1, a2)
