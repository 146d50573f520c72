"""The simulator's latency model: pure functions, no I/O (lessons 02-04).

A hosted LLM answers a request in two phases:

1. **Time to first token (TTFT)** = time waiting for a free server slot (queue)
   + a fixed overhead + *prefill* (reading the prompt, `prompt_tokens / prefill_tokens_per_s`).
2. **Generation**: the remaining tokens at a steady rate. The server decodes
   for all active requests at once (continuous batching): with `n` requests
   decoding, each one gets `tokens_per_s / (1 + batch_slowdown * (n - 1))`
   tokens per second. Total throughput `n * rate(n)` rises with `n` and
   saturates near `tokens_per_s / batch_slowdown`, while each request slows down.

The server holds at most `slots` requests at a time; the rest wait in a FIFO
queue of at most `queue_limit`, beyond which it answers HTTP 429.
Low-priority work (a Batch API's requests, batches.py) waits in a queue of its
own: it gets a slot only when no interactive request is waiting, and holds at
most `low_priority_slots(profile)` slots, so interactive arrivals find one free.
The profiles (the numbers) are in profiles.py.

The same functions drive the simulated server (`chat.py`) and predict a run's
timings (`predict_batch`), so a lesson can draw prediction beside measurement.
All times are in seconds of wall-clock time *after* the time scale is applied.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from .profiles import DEFAULT_PROFILE, PROFILES, Profile, get_profile  # noqa: F401 (re-exported)


def jitter_factor(profile: Profile, seed: int, key: str) -> float:
    """A reproducible speed factor near 1.0 for one request (same seed+key, same factor).

    Uniform in [1 - jitter, 1 + jitter]; it multiplies the decode rate and divides
    the overhead, so a 'lucky' request is faster in both phases.
    """
    if profile.jitter <= 0:
        return 1.0
    digest = hashlib.sha256(f"{seed}|{key}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    return 1.0 + profile.jitter * (2 * u - 1)


def prefill_s(profile: Profile, prompt_tokens: int, speed: float = 1.0) -> float:
    """Seconds from admission to the first token: overhead + reading the prompt."""
    return overhead_s(profile, speed) + reading_s(profile, prompt_tokens, speed)


def overhead_s(profile: Profile, speed: float = 1.0) -> float:
    """The fixed per-request part of `prefill_s` (the same for any prompt)."""
    return profile.overhead_s / speed


def reading_s(profile: Profile, prompt_tokens: int, speed: float = 1.0) -> float:
    """The prompt-reading part of `prefill_s` (prefill proper: grows with the prompt)."""
    return prompt_tokens / profile.prefill_tokens_per_s / speed


def decode_rate(profile: Profile, active: int, speed: float = 1.0) -> float:
    """Tokens per second for ONE request while `active` requests decode together."""
    n = max(1, active)
    return speed * profile.tokens_per_s / (1.0 + profile.batch_slowdown * (n - 1))


def total_throughput(profile: Profile, active: int) -> float:
    """Tokens per second for the whole server with `active` requests decoding."""
    n = min(max(1, active), profile.slots)
    return n * decode_rate(profile, n)


def low_priority_slots(profile: Profile) -> int:
    """Slots low-priority work (a Batch API) may hold at once: half, at least one."""
    return max(1, profile.slots // 2)


@dataclass(frozen=True)
class Job:
    """One request to predict: its token counts and reproducible speed factor."""

    prompt_tokens: int
    completion_tokens: int
    speed: float = 1.0


class SlotScheduler:
    """The server side of the model as an exact event simulation in explicit time.

    Requests `arrive`, wait in a FIFO queue for one of `profile.slots` slots,
    prefill, then decode together. `advance(t)` moves the state to time `t`,
    handling every event (prefill end, last token, admission) at its exact time.
    The simulator's HTTP server runs one of these against the real clock; the
    predictor runs one against a virtual clock. No I/O, no threads.
    """

    def __init__(self, profile: Profile):
        self.profile = profile
        self.t = 0.0
        self.jobs: dict[object, Job] = {}
        self.queue: list[object] = []
        self.low_queue: list[object] = []           # low-priority requests waiting (Batch API)
        self.low: set[object] = set()               # ids of low-priority requests (waiting or running)
        self.prefilling: dict[object, float] = {}   # id -> time its prefill ends
        self.decoding: dict[object, float] = {}     # id -> decode tokens left
        self.paused: dict[object, float] = {}       # id -> tokens left, slot kept (a test hold)
        self.pause_left: dict[object, float] = {}   # id -> pause when this many tokens are left
        self.admitted: dict[object, float] = {}
        self.first: dict[object, float] = {}
        self.finished: dict[object, float] = {}

    @property
    def active(self) -> int:
        """Requests holding a slot (prefilling, decoding or paused)."""
        return len(self.prefilling) + len(self.decoding) + len(self.paused)

    def arrive(self, rid: object, t: float, job: Job, low: bool = False) -> bool:
        """A request reaches the server at time t. False if the queue is full (HTTP 429).
        `low=True`: low priority (a Batch API's request), never refused, admitted after
        every waiting interactive request and only into its share of the slots."""
        self.advance(t)
        if not low and self.active >= self.profile.slots and len(self.queue) >= self.profile.queue_limit:
            return False
        self.jobs[rid] = job
        if low:
            self.low.add(rid)
            self.low_queue.append(rid)
        else:
            self.queue.append(rid)
        self._admit()
        return True

    @property
    def low_active(self) -> int:
        """Low-priority requests holding a slot."""
        return sum(1 for r in self.low if r in self.prefilling or r in self.decoding or r in self.paused)

    def cancel(self, rid: object, t: float) -> None:
        """The client went away: free its slot (or queue place) at time t."""
        self.advance(t)
        if rid in self.queue:
            self.queue.remove(rid)
        if rid in self.low_queue:
            self.low_queue.remove(rid)
        self.prefilling.pop(rid, None)
        self.decoding.pop(rid, None)
        self.paused.pop(rid, None)
        self.pause_left.pop(rid, None)
        self._admit()

    def pause_after(self, rid: object, n_tokens: int) -> None:
        """Pause the request, keeping its slot, at the exact moment its n-th token is
        written (the simulator's hold fault). Answers of n tokens or fewer never pause."""
        left = self.jobs[rid].completion_tokens - n_tokens
        if left > 0:
            self.pause_left[rid] = float(left)

    def resume(self, rid: object, t: float) -> None:
        """Decode a paused request again from time t."""
        self.advance(t)
        if rid in self.paused:
            self.decoding[rid] = self.paused.pop(rid)

    def forget(self, rid: object) -> None:
        """Drop the bookkeeping of a request that has ended."""
        for d in (self.jobs, self.admitted, self.first, self.finished, self.pause_left):
            d.pop(rid, None)
        self.low.discard(rid)

    def _rate(self, rid: object) -> float:
        return decode_rate(self.profile, len(self.decoding), self.jobs[rid].speed)

    def next_event_s(self) -> float:
        """Time of the next prefill end or last token (inf when idle)."""
        times = list(self.prefilling.values())
        times += [self.t + (left - self.pause_left.get(r, 0.0)) / self._rate(r)
                  for r, left in self.decoding.items()]
        return min(times, default=math.inf)

    def advance(self, t: float) -> None:
        """Move to time t, applying every event on the way at its exact time."""
        while True:
            nxt = self.next_event_s()
            step_to = min(nxt, t)
            if step_to > self.t:
                for r in self.decoding:
                    self.decoding[r] -= (step_to - self.t) * self._rate(r)
                self.t = step_to
            for r, left in self.decoding.items():  # due now (also: infinite speed)
                stop = self.pause_left.get(r, 0.0)
                if self.t + (left - stop) / self._rate(r) <= self.t:
                    self.decoding[r] = stop
            for r in [r for r, left in self.decoding.items() if r in self.pause_left
                      and left <= self.pause_left[r] + 1e-9]:
                self.paused[r] = self.pause_left.pop(r)
                del self.decoding[r]
            if nxt > t:
                return
            for r, end in list(self.prefilling.items()):
                if end <= self.t:
                    del self.prefilling[r]
                    self.first[r] = self.t
                    self.decoding[r] = float(max(self.jobs[r].completion_tokens - 1, 0))
            for r, left in list(self.decoding.items()):
                if left <= 1e-9:
                    del self.decoding[r]
                    self.finished[r] = self.t
            self._admit()

    def _admit(self) -> None:
        while self.queue and self.active < self.profile.slots:
            self._start(self.queue.pop(0))
        if self.queue or not self.low_queue:
            return
        low_now, cap = self.low_active, low_priority_slots(self.profile)
        while self.low_queue and self.active < self.profile.slots and low_now < cap:
            self._start(self.low_queue.pop(0))
            low_now += 1

    def _start(self, r: object) -> None:
        self.admitted[r] = self.t
        self.prefilling[r] = self.t + prefill_s(self.profile, self.jobs[r].prompt_tokens, self.jobs[r].speed)

    def tokens_done(self, rid: object) -> int:
        """How many of the request's tokens exist at the current time."""
        job = self.jobs[rid]
        if rid in self.finished:
            return job.completion_tokens
        left = self.decoding.get(rid, self.paused.get(rid))
        if left is not None:
            return job.completion_tokens - math.ceil(left - 1e-9)
        return 0

    def next_token_s(self, rid: object) -> float:
        """When the request's next token is due if nothing else changes (inf if waiting)."""
        if rid in self.prefilling:
            return self.prefilling[rid]
        if rid in self.decoding:
            left = self.decoding[rid]
            step = left - (math.ceil(left - 1e-9) - 1)  # distance to the next whole token
            return self.t + step / self._rate(rid)
        return math.inf


@dataclass(frozen=True)
class PredictedRequest:
    index: int
    sent_s: float          # when the client sends it (it has a free worker)
    admitted_s: float      # when a server slot takes it (queue wait = admitted - sent)
    first_token_s: float   # TTFT measured from time 0 = admitted + prefill
    end_s: float           # last token

    @property
    def latency_s(self) -> float:
        return self.end_s - self.sent_s

    @property
    def ttft_s(self) -> float:
        return self.first_token_s - self.sent_s


def predict_single(profile: Profile, job: Job) -> PredictedRequest:
    """Predicted timings of one request alone on an idle server."""
    return predict_batch(profile, [job], max_concurrency=1)[0]


def predict_batch(profile: Profile, jobs: list[Job], max_concurrency: int) -> list[PredictedRequest]:
    """Predict every request's timeline when a client sends `jobs` at time 0
    with at most `max_concurrency` in flight (like LangChain's `.batch`), to a
    server described by `profile` (slots, queue, continuous batching).
    """
    if not isinstance(profile, Profile):
        raise ValueError(f"profile must be a Profile, e.g. get_profile('hosted-small', 0.1), got {profile!r:.40}")
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
        raise ValueError(f"max_concurrency must be a whole number >= 1, got {max_concurrency!r}")
    if not isinstance(jobs, (list, tuple)) or not jobs:
        raise ValueError("jobs must be a non-empty list of Job(prompt_tokens, completion_tokens)")
    for j in jobs:
        if not (isinstance(j, Job) and j.prompt_tokens >= 0 and j.completion_tokens >= 0 and j.speed > 0):
            raise ValueError(f"each job must be a Job(prompt_tokens>=0, completion_tokens>=0, speed>0), got {j!r:.60}")
    sched = SlotScheduler(profile)
    sent: dict[int, float] = {}
    pending = list(range(len(jobs)))

    def client_send(now: float) -> None:
        while pending and len(sent) - len(sched.finished) < max_concurrency:
            i = pending.pop(0)
            sent[i] = now
            if not sched.arrive(i, now, jobs[i]):
                raise ValueError("the prediction overflows the server queue (the run would see 429s)")

    client_send(0.0)
    while len(sched.finished) < len(jobs):
        nxt = sched.next_event_s()
        if math.isinf(nxt):
            raise RuntimeError("prediction stalled")  # cannot happen for valid jobs
        sched.advance(nxt)
        client_send(sched.t)
    return [PredictedRequest(i, sent[i], sched.admitted[i], sched.first[i], sched.finished[i])
            for i in range(len(jobs))]


def makespan_s(predicted: list[PredictedRequest]) -> float:
    """Time from the first send to the last token."""
    return max(p.end_s for p in predicted) - min(p.sent_s for p in predicted)
