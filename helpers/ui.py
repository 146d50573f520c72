"""One base for the course's threaded widgets (lessons 02-06).

A widget that runs real requests must keep the page alive while they run, so its
work happens in a worker thread. Every such widget needs the same plumbing, and it
lives here once:

- show the layout at once (before any work starts);
- run the work in a daemon thread, with the controls disabled meanwhile, and a
  second click ignored while a run is going;
- turn any error into one line in the widget (see `helpers.explain`), and keep
  the widget usable afterwards;
- `wait()` for scripts and tests.

Standard ipywidgets only; no custom front end.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from .explain import explain


class ThreadedWidget:
    """Base class: subclasses build `self.layout` (a Box), then call `self.start(work, ...)`
    from a button's click. `controls` are disabled while the work runs."""

    def __init__(self, layout, controls: Sequence, log) -> None:
        self.layout, self.controls, self.log = layout, list(controls), log
        self.thread: threading.Thread | None = None
        self.error: str | None = None

    def _repr_mimebundle_(self, **kwargs):
        return self.layout._repr_mimebundle_(**kwargs)

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self, work: Callable, *args) -> bool:
        """Run `work(*args)` in a thread; False (and nothing done) if a run is still going."""
        if self.running:
            return False
        self.error = None
        self._enable(False)
        self.thread = threading.Thread(target=self._guarded, args=(work, *args), daemon=True)
        self.thread.start()
        return True

    def _guarded(self, work: Callable, *args) -> None:
        try:
            work(*args)
        except Exception as exc:  # noqa: BLE001 -- shown in the widget as one line
            self.error = explain(exc)
            self.on_error(self.error)
        finally:
            self._enable(True)
            self.on_finish()

    def on_error(self, line: str) -> None:
        """Show an error line (subclasses may show it elsewhere too)."""
        self.log.append_stdout(line + "\n")

    def on_finish(self) -> None:
        """Called in the worker thread after every run, failed or not."""

    def _enable(self, on: bool) -> None:
        for control in self.controls:
            control.disabled = not on

    def wait(self, timeout_s: float = 120.0):
        """Block until the current run ends (for scripts and tests)."""
        if self.thread is not None:
            self.thread.join(timeout_s)
        return self
