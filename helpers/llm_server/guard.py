"""Connection guards: what keeps idle, slow or too many connections from taking the
server down (issue 16). Used by __main__ when it builds the uvicorn server.

uvicorn 0.54.0 (h11 protocol, the one used without httptools) applies
`timeout_keep_alive` only *after* a response (h11_impl.H11Protocol.on_response_complete
arms the timer, data_received cancels it), so a connection that never finishes
its request head, or trickles its body, is held forever; `limit_concurrency`
only answers 503 once a request head has arrived (handle_events), so idle
sockets still hold a file each. `GuardedH11Protocol` adds what is missing:

* a head deadline: the request line and headers must arrive within HEAD_TIMEOUT_S
  of the connection opening (or of the first byte of a keep-alive request);
* a body deadline: the body must be complete within BODY_TIMEOUT_S of the head;
* a cap on open connections, in total and per client address (closed at once,
  before they hold a file for long). 127.0.0.1 and ::1 (this machine: you, or a
  hub running here) have no per-address cap.

`raise_file_limit` lifts the soft RLIMIT_NOFILE toward the hard limit;
`OnceFilter` logs a repeated error once, then how many times it repeated.
"""
from __future__ import annotations

import logging
import time

from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 30.0
TRUSTED = ("127.0.0.1", "::1")


class Limits:
    """Shared by every connection of one server."""

    def __init__(self, max_connections: int, per_address: int | None):
        self.max_connections, self.per_address = max_connections, per_address
        self.by_address: dict[str, int] = {}
        self.open = 0
        self.refused = 0
        self.timed_out = 0


LIMITS = Limits(1024, None)   # __main__ replaces it before serving
log = logging.getLogger("uvicorn.error")


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus head and body deadlines and connection caps."""

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        lim = LIMITS
        self._addr = (self.client or ("?", 0))[0]
        self._deadline = self._kind = self._armed_for = None
        n_addr = lim.by_address.get(self._addr, 0)
        over_addr = lim.per_address and self._addr not in TRUSTED and n_addr >= lim.per_address
        if lim.open >= lim.max_connections or over_addr:
            lim.refused += 1
            self._counted = False
            log.warning("Refused a connection: too many open (%s)",
                        "from one address" if over_addr else "in total")
            transport.abort()
            return
        self._counted = True
        lim.open += 1
        lim.by_address[self._addr] = n_addr + 1
        self._arm(HEAD_TIMEOUT_S, "head", None)

    def connection_lost(self, exc) -> None:
        self._disarm()
        if getattr(self, "_counted", False):
            self._counted = False
            lim = LIMITS
            lim.open -= 1
            left = lim.by_address.get(self._addr, 1) - 1
            if left > 0:
                lim.by_address[self._addr] = left
            else:
                lim.by_address.pop(self._addr, None)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and (self.cycle is None or self.cycle.response_complete):
            self._arm(HEAD_TIMEOUT_S, "head", self.cycle)  # first byte of a keep-alive request
        super().data_received(data)
        self._check()

    def _check(self) -> None:
        cycle = self.cycle
        if self._kind == "head" and cycle is not None and cycle is not self._armed_for:
            if cycle.more_body:   # a new request head has arrived: now its body
                self._arm(BODY_TIMEOUT_S, "body", cycle)
            else:
                self._disarm()
        elif self._kind == "body" and (cycle is not self._armed_for or not cycle.more_body):
            self._disarm()

    def on_response_complete(self) -> None:
        self._disarm()
        super().on_response_complete()

    def _arm(self, seconds: float, kind: str, cycle) -> None:
        self._disarm()
        self._kind, self._armed_for = kind, cycle
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if getattr(self, "_deadline", None) is not None:
            self._deadline.cancel()
        self._deadline, self._kind = None, None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        LIMITS.timed_out += 1
        log.warning("Closed a connection that did not send its request %s in time",
                    "head" if self._kind == "head" else "body")
        self._kind = None
        self.transport.close()   # a running request sees http.disconnect


def raise_file_limit(want: int = 65536) -> tuple[int, int]:
    """Lift the soft limit on open files toward the hard limit (macOS's default soft
    limit is 256). Returns (soft, hard) as they are now."""
    try:
        import resource
    except ImportError:  # Windows: no RLIMIT_NOFILE
        return (8192, 8192)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft, hard


class OnceFilter(logging.Filter):
    """Let the first of a run of identical messages through; then one summary line
    ("... repeated N times in the last S s") at most every `every_s` seconds."""

    def __init__(self, every_s: float = 10.0):
        super().__init__()
        self.every_s = every_s
        self.seen: dict[tuple, list] = {}   # (logger, msg) -> [first_t, repeats]

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.msg if isinstance(record.msg, str) else repr(record.msg))
        now = time.monotonic()
        entry = self.seen.get(key)
        if entry is None:
            if len(self.seen) > 1000:
                self.seen.clear()
            self.seen[key] = [now, 0]
            return True
        entry[1] += 1
        if now - entry[0] < self.every_s:
            return False
        n, span = entry[1], now - entry[0]
        self.seen[key] = [now, 0]
        record.msg = f"{record.getMessage()} (repeated {n} times in the last {span:.0f} s)"
        record.args = ()
        record.exc_info = record.exc_text = None
        return True


    def flush(self) -> None:
        """Say how often each suppressed message repeated since it was last shown."""
        now = time.monotonic()
        for (name, msg), entry in list(self.seen.items()):
            if entry[1] and now - entry[0] >= self.every_s:
                n, span = entry[1], now - entry[0]
                self.seen[(name, msg)] = [now, 0]
                logging.getLogger(name + ".repeats").log(logging.WARNING, "(the message '%s' repeated %d times in "
                                            "the last %.0f s)", msg.split("\n")[0][:120], n, span)
        for key in [k for k, e in self.seen.items() if not e[1] and now - e[0] > 60 * self.every_s]:
            del self.seen[key]


def install_once_filter() -> OnceFilter:
    f = OnceFilter()
    for name in ("asyncio", "uvicorn.error", "uvicorn"):
        logging.getLogger(name).addFilter(f)
    return f
