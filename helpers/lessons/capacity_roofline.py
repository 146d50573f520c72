"""A roofline for decoding on your own CPU (lesson 04b), from numbers measured in this run.

To write one token, the model reads every weight once. So decode speed is capped by
    memory roof = memory bandwidth / bytes of weights          (tokens/s)
and by the arithmetic, about 2 floating-point operations per parameter per token:
    compute roof = arithmetic rate / (2 × parameters)          (tokens/s)
A batch of B requests shares one read of the weights but needs B times the arithmetic, so
batching can raise throughput by at most about compute roof / memory roof.

- `memory_bandwidth_gb_s()`: a large numpy copy, counted as STREAM's "Copy" counts it
  (bytes read + bytes written, per second), best of a few tries.
- `arithmetic_gflop_s(threads)`: a float32 matrix multiply with numpy on llama.cpp's threads; a
  rough stand-in for llama.cpp's quantized dot products, so read it as an order of magnitude.
- `roofline(decode_tokens_per_s)`: both roofs for the local model's GGUF file, beside a
  measured decode speed, and the verdicts computed from them.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass

import numpy as np


def memory_bandwidth_gb_s(megabytes: int = 256, tries: int = 3) -> float:
    """GB/s moved by `np.copyto` of a `megabytes` array (read + write), best of `tries`."""
    src = np.ones(megabytes * 2**20 // 8)
    dst = np.empty_like(src)
    best = np.inf
    for _ in range(tries):
        t = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t)
    return 2 * src.nbytes / best / 1e9


_MATMUL = """
import time, numpy as np
a = np.random.default_rng(0).random(({n}, {n}), dtype=np.float32)
best = min(__import__("timeit").repeat(lambda: a @ a, number=1, repeat={tries}))
print(2 * {n} ** 3 / best / 1e9)
"""


def arithmetic_gflop_s(threads: int, n: int = 1024, tries: int = 3) -> float:
    """GFLOP/s of an n×n float32 matrix multiply (2 n³ operations) on `threads` BLAS threads,
    best of `tries` (run in a fresh Python, because BLAS fixes its thread count at import)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, **{v: str(threads) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}}
    out = subprocess.run([sys.executable, "-c", _MATMUL.format(n=n, tries=tries)], env=env,
                         capture_output=True, text=True, timeout=60, check=True)
    return float(out.stdout.strip())


@dataclass(frozen=True)
class Roofline:
    """The local model's two roofs and its measured decode speed (lesson 04b)."""

    model_file: str
    weights_mb: float
    parameters: float
    bandwidth_gb_s: float
    gflop_s: float
    threads: int
    measured_tokens_per_s: float

    @property
    def memory_roof(self) -> float:
        return self.bandwidth_gb_s * 1e9 / (self.weights_mb * 1e6)

    @property
    def compute_roof(self) -> float:
        return self.gflop_s * 1e9 / (2 * self.parameters)

    @property
    def share_of_memory_roof(self) -> float:
        return self.measured_tokens_per_s / self.memory_roof

    @property
    def batch_headroom(self) -> float:
        """At most how many times a batch can raise throughput: compute roof / memory roof."""
        return self.compute_roof / self.memory_roof

    def __str__(self) -> str:
        share = self.share_of_memory_roof
        lower = min(self.memory_roof, self.compute_roof)
        where = ("close to the memory roof: reading the weights is what limits it" if share >= 0.7 else
                 f"well under the memory roof: something else limits it (the lower of the two roofs here "
                 f"is the {'memory' if lower == self.memory_roof else 'compute'} roof, {lower:.0f} tokens/s, "
                 f"and the measured speed is {round(100 * self.measured_tokens_per_s / lower)} % of it)")
        head = self.batch_headroom
        batch = (f"the compute roof is not much above the memory roof ({head:.1f}×): one request already keeps "
                 f"the arithmetic busy, so a batch has almost nothing to share here" if head < 1.5 else
                 f"a batch can raise throughput up to the compute roof, about {head:.1f}× the memory roof")
        return "\n".join([
            f"model file: {self.model_file}, {self.weights_mb:.0f} MB of weights, "
            f"about {self.parameters / 1e6:.0f}M parameters",
            f"memory bandwidth (numpy copy, this run): {self.bandwidth_gb_s:.1f} GB/s -> memory roof "
            f"{self.memory_roof:.0f} tokens/s ({self.weights_mb:.0f} MB read per token)",
            f"arithmetic (numpy float32 matmul on {self.threads} thread{'s' if self.threads > 1 else ''}, as "
            f"llama.cpp uses here): {self.gflop_s:.0f} GFLOP/s -> compute roof "
            f"{self.compute_roof:.0f} tokens/s (2 × {self.parameters / 1e6:.0f}M operations per token)",
            f"measured decode: {self.measured_tokens_per_s:.0f} tokens/s = {round(100 * share)} % of the memory roof, "
            f"{where}",
            f"batching: {batch}"])


def parameters_from_name(name: str) -> float:
    """'SmolLM2-135M-Instruct.Q4_1.gguf' -> 135e6 (the count the model's name states)."""
    m = re.search(r"(\d+(?:\.\d+)?)([MB])", name)
    if not m:
        raise ValueError(f"cannot read a parameter count from {name!r}")
    return float(m.group(1)) * (1e6 if m.group(2) == "M" else 1e9)


def roofline(decode_tokens_per_s: float) -> Roofline:
    """Both roofs for the local model's GGUF, measured now on the threads llama.cpp uses, beside
    `decode_tokens_per_s`."""
    from ..backends.local_model import default_threads, gguf_path

    path, threads = gguf_path(), default_threads()
    return Roofline(path.name, path.stat().st_size / 1e6, parameters_from_name(path.name),
                    memory_bandwidth_gb_s(), arithmetic_gflop_s(threads), threads, decode_tokens_per_s)
