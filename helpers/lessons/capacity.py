"""The capacity lab (lesson 04b): how much load a server takes before latency pays for it.

Lesson 04b imports this one name (`from helpers import capacity`); the work is split by job:

| module | what |
|---|---|
| `capacity_run` | the load profiles (synchronous, concurrency, constant and Poisson rates), caps, tables |
| `capacity_knee` | the knee rule, guess vs data, Little's law, the safe max_concurrency, Poisson vs constant |
| `capacity_plan` | sizing to the backend's speed, the cost gate on OpenAI, the knee widget |
| `capacity_plots` | the throughput-latency curve |
| `capacity_limits` | the `x-ratelimit-*` headers, and a check of max_concurrency against a limited simulator |
| `capacity_roofline` | memory and compute roofs of the local model on your CPU |
"""
from .capacity_knee import (
    RULE,
    Knee,
    burst_verdict,
    compare_prediction,
    find_knee,
    littles_law,
    safe_concurrency,
)
from .capacity_limits import PROMPT as LIMIT_PROMPT
from .capacity_limits import check_against_limits, limited_model, limited_simulator, limits_from, rate_headers
from .capacity_plan import KneeWidget, LabPlan, plan_lab
from .capacity_plots import curve
from .capacity_roofline import Roofline, roofline
from .capacity_run import (
    MAX_IN_FLIGHT,
    MAX_REQUESTS,
    MAX_SECONDS,
    SLO,
    Point,
    arrival_times,
    concurrency_sweep,
    knee_of,
    littles_table,
    max_goodput,
    preflight,
    prompts,
    rate_run,
    rate_sweep,
    run_point,
    slo_from,
    synchronous,
    table,
)

__all__ = ["RULE", "Knee", "burst_verdict", "compare_prediction", "find_knee", "littles_law", "safe_concurrency",
           "LIMIT_PROMPT", "check_against_limits", "limited_model", "limited_simulator", "limits_from", "rate_headers",
           "KneeWidget", "LabPlan", "plan_lab", "curve", "Roofline", "roofline", "MAX_IN_FLIGHT",
           "MAX_REQUESTS", "MAX_SECONDS", "SLO", "Point", "arrival_times", "concurrency_sweep", "knee_of",
           "littles_table", "max_goodput", "preflight", "prompts", "rate_run", "rate_sweep", "run_point", "slo_from",
           "synchronous", "table"]
