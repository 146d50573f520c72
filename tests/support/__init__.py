"""Code the tests share (and the benchmarks reuse); never imported by the course itself."""
