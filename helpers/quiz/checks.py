"""Named exercise checks (lessons 00 to 03): they judge your answer against this run.

Each check returns `(passed, why_not)`. Where an exercise can be checked against the run,
it is: you pass the thing you measured (the reply, the results, the chunk stamps) beside
your answer, and the check compares the two. Each classic mistake gets its own message
that names the mistake, never the answer. `grading.py` calls these; a YAML question
picks one with `check: <name>`.
"""
from __future__ import annotations

import math
import time
from typing import Any

__all__ = ["NAMED_CHECKS", "best_concurrency", "reply_output_tokens", "safe_concurrency", "slowest_prompt",
           "ttft_before_total"]


def _number(value: Any, integer: bool = False) -> float:
    """The answer as a finite number; raises ValueError or TypeError if it isn't one."""
    number = float(value) if not isinstance(value, bool) else math.nan
    if not math.isfinite(number) or (integer and not number.is_integer()):
        raise ValueError(value)
    return number


def _positive(value: Any) -> bool:
    try:
        return _number(value) > 0
    except (TypeError, ValueError):
        return False


_SLACK_S = 0.1   # a stamp taken right after the loop can lag the last chunk on a busy CPU


def _typed(value: float) -> bool:
    """A number that looks typed in (0.3, 3.0, 2.25) rather than read from perf_counter."""
    return round(value, 3) == value


# ---- lesson 00 -----------------------------------------------------------------------------

def reply_output_tokens(output_tokens: Any, reply: Any) -> tuple[bool, str]:
    """Lesson 00: `output_tokens` is the count the server reported in `reply.usage_metadata`
    (not the words you asked for, not a word or character count)."""
    usage = getattr(reply, "usage_metadata", None)
    if not hasattr(reply, "content"):
        return False, "Pass the reply too: `.check(output_tokens, reply)`, where `reply = llm.invoke(...)`."
    try:
        given = _number(output_tokens, integer=True)
    except (TypeError, ValueError):
        return False, "Pass a whole number: the count of tokens the model wrote."
    if not usage or not isinstance(usage.get("output_tokens"), int):
        ok = given > 0
        return ok, "" if ok else "Pass a whole number above zero."   # a backend without usage
    real, text = usage["output_tokens"], str(reply.content)
    if given == real:
        return True, ""
    mistakes = [
        (5, "5 is the number of **words you asked for**. The model decides how much it writes, "
            "and counts its output in tokens, not words. Read the count the server reported."),
        (len(text.split()), "That is the number of **words** in the reply. Tokens are not words: "
                            "long words split into several, and punctuation counts too. "
                            "Read the count the server reported."),
        (len(text), "That is the number of **characters** in the reply. Read the count the server reported."),
        (usage.get("input_tokens"), "That is `input_tokens`: the tokens of your **prompt**. "
                                    "You want the tokens the model wrote."),
        (usage.get("total_tokens"), "That is `total_tokens`: prompt and reply together. "
                                    "You want only the tokens the model wrote."),
    ]
    for value, why in mistakes:
        if value == given:
            return False, why
    return False, ("That is not the count in this reply's `usage_metadata`. "
                   "Did you read it from the same `reply` you passed?")


# ---- lesson 01 -----------------------------------------------------------------------------

def slowest_prompt(slowest_name: Any, results: Any) -> tuple[bool, str]:
    """Lesson 01: `results` is {name: measure_invoke(llm, prompt)} for three or more different
    prompts, measured in this run, and `slowest_name` is the one that took longest."""
    if not isinstance(results, dict) or len(results) < 3:
        return False, ("Pass your results as a dict of three prompts: "
                       "`{name: measure_invoke(llm, prompt) for name, prompt in prompts.items()}`.")
    if any(not hasattr(r, "total_s") for r in results.values()):
        bad = next(k for k, r in results.items() if not hasattr(r, "total_s"))
        return False, (f"`results[{bad!r}]` is {type(results[bad]).__name__}, not a measurement. "
                       "Store what `measure_invoke(llm, prompt)` returns: the check reads its time "
                       "and tokens, so typed-in timings can't pass.")
    if len({getattr(r, "prompt", None) for r in results.values()}) < len(results):
        return False, "Two of your results timed the same prompt. Measure each prompt once, under its own name."
    if slowest_name not in results:
        return False, f"{slowest_name!r} isn't a key of your results: {', '.join(map(repr, results))}."
    seconds = {k: r.total_s for k, r in results.items()}
    if seconds[slowest_name] >= 0.99 * max(seconds.values()):
        return True, ""
    longest_prompt = max(results, key=lambda k: len(str(getattr(results[k], "prompt", ""))))
    if slowest_name == longest_prompt:
        return False, (f"{slowest_name!r} has the longest *prompt*, but in this run another one took longer. "
                       "These prompts are all short, so reading them takes about the same time. "
                       "What else grows the wait? Compare the output tokens.")
    if seconds[slowest_name] == min(seconds.values()):
        return False, (f"In this run {slowest_name!r} was the **fastest** of your prompts, not the slowest. "
                       "`min` where you meant `max`?")
    return False, f"In this run {slowest_name!r} took {seconds[slowest_name]:.2f} s; another prompt took longer."


# ---- lesson 02 -----------------------------------------------------------------------------

def _stamps_ok(stamps: Any) -> bool:
    try:
        times = [_number(t) for t, _ in stamps]
    except (TypeError, ValueError):
        return False
    return bool(times) and times == sorted(times) and any(text for _, text in stamps)


def _ttft_problem(ttft: float, times: list[float], texts: list) -> str | None:
    """Why `ttft` is not the first chunk with text, or None if it is. Your stamp comes right
    after the loop's `stamps.append(...)`, so it falls between its own chunk's stamp and the next
    one's: that tells exactly which chunk you stamped, however close together chunks arrive."""
    first = next(i for i, text in enumerate(texts) if text)
    last_text = max(i for i, text in enumerate(texts) if text)
    stamped = [i for i, t in enumerate(times) if t <= ttft + 2e-5]   # 20 µs: stamped just before the append
    if not stamped or ttft > times[-1] + _SLACK_S + 0.05 * times[-1]:
        return ("Your `ttft_s` doesn't match the moment any chunk of this stream arrived. "
                "Stamp it inside the loop, as `time.perf_counter() - t0`.")
    chunk = stamped[-1]
    if chunk == first:
        return None
    if chunk < first:
        return ("You stamped a chunk with **no text**: the first chunk carries only the role. "
                "TTFT is the first chunk whose `content` is not empty.")
    if chunk >= last_text:
        return ("Your `ttft_s` is the time of the **last** chunk: it was overwritten on every chunk. "
                "Set it only once, while it is still `None`.")
    return ("Your `ttft_s` is a later chunk, not the first one with text. "
            "Set it at the first chunk whose `content` is not empty, and only then.")


def ttft_before_total(ttft_s: Any, total_s: Any, stamps: Any) -> tuple[bool, str]:
    """Lesson 02: `ttft_s` is when the first chunk with text arrived and `total_s` when the
    stream ended, both from one `t0`; `stamps` is the loop's list of (seconds since t0, content)
    for every chunk, which the check compares your two numbers with."""
    if not isinstance(stamps, (list, tuple)) or not _stamps_ok(stamps):
        return False, ("Pass `stamps` too, the list the loop fills with `(time.perf_counter() - t0, chunk.content)`: "
                       "`.check(ttft_s, total_s, stamps)`.")
    if ttft_s is None:
        return False, ("`ttft_s` is still None: your loop never set it. "
                       "Set it at the first chunk whose `content` is not empty.")
    if not (_positive(ttft_s) and _positive(total_s)):
        return False, "Pass two positive numbers of seconds, both measured from `t0`, just before the call."
    ttft, total = _number(ttft_s), _number(total_s)
    times, texts = [_number(t) for t, _ in stamps], [text for _, text in stamps]
    clock, end = time.perf_counter(), times[-1]
    for name, value in (("total_s", total), ("ttft_s", ttft)):
        if abs(value - clock) < abs(value - end):
            return False, (f"Your `{name}` ({value:.0f} s) is a reading of the clock itself, not a duration: "
                           "`time.perf_counter()` counts from an arbitrary start. Subtract `t0`.")
    ttft_problem = _ttft_problem(ttft, times, texts)
    total_ok = end - 0.005 <= total <= end + _SLACK_S + 0.05 * end   # stamped right after the loop
    if ttft_problem is None and total_ok:
        return True, ""
    if (ttft_problem and _typed(ttft)) or (not total_ok and _typed(total)):
        return False, ("These look like numbers typed in, not measured: they don't match this stream. "
                       "Stamp both with `time.perf_counter() - t0` in the cell that streams.")
    if ttft > total:
        return False, "Your first text comes after the end of the stream. Did you swap the two values?"
    if ttft_problem:
        return False, ttft_problem
    if total < end:
        return False, ("Your `total_s` is earlier than the stream's last chunk. "
                       "Stamp it after the loop, when the stream has ended.")
    return False, ("Your `total_s` is long after the stream's last chunk. "
                   "Stamp it right after the loop, in the same cell.")


# ---- lesson 03 -----------------------------------------------------------------------------

def _is_run(value: Any) -> bool:
    """A `measure_batch` result (duck-typed, so this module needs no timing import)."""
    return all(hasattr(value, a) for a in ("makespan_s", "requests", "n_rate_limited", "n_errors"))


def best_concurrency(chosen: Any, runs: Any) -> tuple[bool, str]:
    """Lesson 03: `runs` is {max_concurrency: measure_batch(...)} for the same prompts, measured
    in this run; the check reads each run's makespan and 429s from it. `chosen` saw no error
    and is within 5% of the fastest setting that saw none."""
    if not isinstance(runs, dict) or not runs:
        return False, ("Pass your runs as a dict `{max_concurrency: measure_batch(...)}`: "
                       "`.check(chosen, runs)`.")
    for key, run in runs.items():
        if not _is_run(run):
            if isinstance(run, (tuple, list, int, float)):
                return False, (f"`runs[{key!r}]` is {run!r}: numbers typed in, not a measurement. "
                               "Store what `measure_batch(...)` returns: the check reads the makespan and "
                               "the 429s from it, so invented numbers can't pass.")
            return False, (f"`runs[{key!r}]` is {type(run).__name__}, not a measurement. "
                           "Store what `measure_batch(...)` returns.")
        if getattr(run, "max_concurrency", key) != key:
            return False, (f"`runs[{key!r}]` was measured with max_concurrency={run.max_concurrency}. "
                           "File each run under the max_concurrency it used.")
    if len({len(run.requests) for run in runs.values()}) > 1:
        return False, "Your runs sent different numbers of prompts. Send the same prompts at every setting."
    if chosen not in runs:
        return False, f"{chosen!r} isn't a setting you measured: {', '.join(map(repr, runs))}."
    clean = [run.makespan_s for run in runs.values() if run.n_errors == 0]
    if not clean:
        return False, "Every setting in your runs saw an error. Add smaller `max_concurrency` values."
    mine = runs[chosen]
    if mine.n_rate_limited:
        fastest = min(runs, key=lambda c: runs[c].makespan_s)
        why = (" It finished fastest only because those requests were turned away at once: "
               "a 429 is not an answer." if chosen == fastest else "")
        return False, f"At {chosen!r} your run saw {mine.n_rate_limited} 429(s).{why} Pick a setting with none."
    if mine.n_errors:
        return False, (f"At {chosen!r} {mine.n_errors} request(s) failed. "
                       "Pick a setting where every prompt was answered.")
    if mine.makespan_s > 1.05 * min(clean):
        return False, f"In your runs, a setting without errors finished clearly faster than {chosen!r}."
    return True, ""


# ---- lesson 04b ----------------------------------------------------------------------------

def safe_concurrency(chosen: Any, limits: Any) -> tuple[bool, str]:
    """Lesson 04b: `chosen` = floor(allowed requests/s × latency_s), where the allowed rate is the
    smaller of rpm / 60 and tpm / 60 / tokens_per_request (Little's law: in flight = rate × latency).
    `limits`: {"rpm", "tpm", "tokens_per_request", "latency_s"} read from your run."""
    keys = ("rpm", "tpm", "tokens_per_request", "latency_s")
    if not isinstance(limits, dict) or not all(_positive(limits.get(k)) for k in keys):
        return False, "Pass the limits too: a dict with rpm, tpm, tokens_per_request and latency_s (all > 0)."
    try:
        given = _number(chosen, integer=True)
    except (TypeError, ValueError):
        return False, "Pass a whole number of requests in flight, like 3."
    rpm, tpm, per, w = (float(limits[k]) for k in keys)
    by_req, by_tok = rpm / 60, tpm / 60 / per
    rate = min(by_req, by_tok)
    right = max(1, math.floor(rate * w))
    if given == right:
        return True, ""
    mistakes = [
        (max(1, math.floor(min(rpm, tpm / per) * w)), "That is a per-minute limit times seconds: divide the limits "
         "by 60 first, to get requests per second."),
        (max(1, math.floor(by_req * w)), "You used the request limit, but the token limit allows fewer requests "
         "per second here: take the smaller of the two rates."),
        (max(1, math.floor(by_tok * w)), "You used the token limit, but the request limit allows fewer requests "
         "per second here: take the smaller of the two rates."),
        (max(1, math.floor(tpm / 60 * w)), "TPM counts tokens, not requests: divide it by the tokens each request "
         "counts (prompt + max_tokens)."),
        (math.ceil(rate * w), "Round down: rounding up keeps a little more in flight than the limit allows."),
        (max(1, math.floor(rate / w)), "Little's law multiplies: in flight = rate × latency, not rate ÷ latency."),
    ]
    for value, message in mistakes:
        if given == value:
            return False, message
    return False, "Not yet: in flight = allowed requests per second × seconds per request, rounded down."


NAMED_CHECKS = {f.__name__: f for f in (reply_output_tokens, slowest_prompt, ttft_before_total,
                                        best_concurrency, safe_concurrency)}
