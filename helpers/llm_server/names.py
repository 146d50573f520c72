"""The classroom's name table and its policy (issue 16; see docs/INSTRUCTORS.md).

Why this policy: one laptop must not be able to fill the table and lock the room
out, and the instructor must stay in charge, without making setup harder.

* A name is taken by its first request and kept while it is used. A name idle for
  IDLE_S (nothing in flight) is forgotten when room is needed, so an abandoned or
  typo'd name does not hold a place all day.
* One client address holds at most `per_address` names at once (default 4: a
  student who retyped their name still works). One laptop can no longer take 500
  names, nor multiply its per-student limits by more than that. 127.0.0.1 and ::1
  (this machine: the instructor, or a JupyterHub running on it) are not capped; a
  hub on another machine needs `--names-per-address 0` or a roster.
* The table holds at most `max_names` (500). The check and the insert happen in
  one synchronous step, so 800 simultaneous new names cannot pass it together.
* Optional roster (`--roster FILE`, one name a line): only those names are let in.
* The instructor can list names (with their address) and remove or block them
  (GET /v1/sim/classroom/names, POST /v1/sim/classroom/names/remove).
* Names like "instructor", "instructor." or "admin" are reserved.
* A name whose first request fails validation (4xx other than 429) is forgotten
  again: bad requests leave no entry.

`LoginThrottle` answers failed logins: after FAILS_PER_MIN failures from one
address in a minute, that address gets 429 until its oldest failure is a minute old
(this machine, 127.0.0.1 and ::1, is trusted here too: on a hub that runs on the same
machine, keep the random dashboard token the server makes, which cannot be guessed).
"""
from __future__ import annotations

import re
import time
from collections import deque
from dataclasses import dataclass

IDLE_S = 20 * 60.0
MAX_NAMES = 500
NAMES_PER_ADDRESS = 4
FAILS_PER_MIN = 30
TRUSTED = ("127.0.0.1", "::1")
RESERVED = {"instructor", "teacher", "admin", "administrator", "dashboard", "root", "system",
            "staff", "server", "sim", "everyone"}


def reserved(name: str) -> bool:
    """`instructor`, `instructor.`, `in-struct_or` ... (punctuation ignored)."""
    return re.sub(r"[._-]", "", name) in RESERVED


@dataclass
class Entry:
    address: str
    last: float
    fresh: bool = True     # no request of it has passed validation yet
    in_flight: int = 0


class NameTable:
    def __init__(self, max_names: int = MAX_NAMES, per_address: int | None = NAMES_PER_ADDRESS,
                 roster: set[str] | None = None, idle_s: float = IDLE_S, on_forget=None):
        self.max_names, self.per_address, self.roster, self.idle_s = max_names, per_address, roster, idle_s
        self.rows: dict[str, Entry] = {}
        self.blocked: set[str] = set()
        self.on_forget = on_forget or (lambda name: None)

    def admit(self, name: str, address: str, now: float | None = None) -> str | None:
        """Take or refresh `name` for a request from `address`; a one-line reason if not.
        Synchronous: no other request can come between the check and the insert."""
        now = time.monotonic() if now is None else now
        if name in self.blocked:
            return "The instructor removed this name from the class: ask them."
        if self.roster is not None and name not in self.roster:
            return "This name is not on the class roster: use the name your instructor gave you."
        entry = self.rows.get(name)
        if entry is not None:
            entry.last = now
            return None
        if self.per_address and address not in TRUSTED and self.count(address) >= self.per_address:
            self.expire(now)
            if self.count(address) >= self.per_address:
                return (f"Your computer already uses {self.per_address} names on this classroom "
                        "server: reuse yours (or ask the instructor to remove one).")
        if len(self.rows) >= self.max_names:
            self.expire(now)
            if len(self.rows) >= self.max_names:
                return f"This classroom server already has {self.max_names} names: reuse yours."
        self.rows[name] = Entry(address, now)
        return None

    def count(self, address: str) -> int:
        return sum(e.address == address for e in self.rows.values())

    def expire(self, now: float) -> None:
        for name in [n for n, e in self.rows.items() if not e.in_flight and now - e.last > self.idle_s]:
            self.forget(name)

    def forget(self, name: str) -> bool:
        if self.rows.pop(name, None) is None:
            return False
        self.on_forget(name)
        return True

    def started(self, name: str) -> None:
        if name in self.rows:
            self.rows[name].in_flight += 1

    def ended(self, name: str, status: int) -> None:
        """A request of `name` ended with `status`: a fresh name whose requests all failed
        validation is forgotten; any other answer makes it a real name."""
        e = self.rows.get(name)
        if e is None:
            return
        e.in_flight = max(0, e.in_flight - 1)
        e.last = time.monotonic()
        if status < 400 or status == 429 or status >= 500:
            e.fresh = False
        elif e.fresh and not e.in_flight:
            self.forget(name)

    def listing(self, now: float | None = None) -> list[dict]:
        now = time.monotonic() if now is None else now
        return [{"name": n, "address": e.address, "idle_s": round(now - e.last, 1),
                 "in_flight": e.in_flight} for n, e in sorted(self.rows.items())]

    def policy(self) -> dict:
        return {"max_names": self.max_names, "names_per_address": self.per_address,
                "idle_expiry_s": self.idle_s, "roster": sorted(self.roster) if self.roster else None,
                "uncapped_addresses": list(TRUSTED)}


class LoginThrottle:
    """Failed logins per client address in the last minute (real time)."""

    def __init__(self, per_min: int = FAILS_PER_MIN):
        self.per_min = per_min
        self.fails: dict[str, deque] = {}

    def wait_s(self, address: str, now: float | None = None) -> float:
        """0 if this address may try again now; else seconds until it may."""
        now = time.monotonic() if now is None else now
        q = self.fails.get(address) if address not in TRUSTED else None
        if not q:
            return 0.0
        while q and q[0] <= now - 60.0:
            q.popleft()
        if not q:
            del self.fails[address]
            return 0.0
        return q[0] + 60.0 - now if len(q) >= self.per_min else 0.0

    def failed(self, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if len(self.fails) > 10_000:   # bounded: forget addresses with no recent failure
            for a in [a for a, q in self.fails.items() if not q or q[-1] <= now - 60.0]:
                del self.fails[a]
        self.fails.setdefault(address, deque()).append(now)
