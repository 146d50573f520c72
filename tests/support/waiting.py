"""Wait for an event, never for a clock: poll a condition until it holds (bounded)."""
import time


def wait_for(what: str, condition, timeout_s: float = 30.0):
    """Return condition()'s first truthy value; fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
