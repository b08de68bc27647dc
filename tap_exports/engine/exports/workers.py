"""The scheduler's worker threads: started by role, called off together, none left behind.

`scheduler.ExportScheduler` keeps exports moving with a creator and a poller thread.
Running them is a job of its own, apart from what they do: start whichever is not
running when work arrives, turn a crash into an answer for the main thread rather than
a hang, and when the run stops call them off (a wait on a budget or a retry ends at
once) and join them, so none outlives the run. It lives here so that the scheduler
reads as what its workers do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from tap_exports.engine.clock import Cancelled, cancellable


class Workers:
    """The running worker threads by role, and the event that calls them off.

    Shares the scheduler's lock: `start`, `retire` and `call_off` are called holding it.
    """

    def __init__(
        self, lock: threading.Condition, on_crash: Callable[[str, Exception], None]
    ) -> None:
        """Run workers under `lock`; `on_crash` hears which stopped on what error.

        `on_crash` is called without the lock, inside the `except` block (so it may log
        the traceback).
        """
        self._lock = lock
        self._on_crash = on_crash
        self._running: dict[str, threading.Thread] = {}
        # Workers called off by `close` that had not ended when it returned.
        self._stopping: list[threading.Thread] = []
        self._stop = threading.Event()

    def start(self, roles: Iterable[tuple[str, Callable[[threading.Event], None]]]) -> None:
        """Start whichever worker is not running (they stop when nothing is left to do)."""
        for name, work in roles:
            if name not in self._running:
                thread = threading.Thread(
                    target=self._guarded(name, work, self._stop),
                    name=f"exports-{name}",
                    # Joined by `close`; daemon only so that a hard crash of the main
                    # thread cannot leave the process hanging on a request.
                    daemon=True,
                )
                self._running[name] = thread
                thread.start()

    def retire(self, name: str) -> None:
        """Forget the calling worker (under the lock), unless it was already replaced."""
        if self._running.get(name) is threading.current_thread():
            del self._running[name]

    def call_off(self) -> list[threading.Thread]:
        """Call every running worker off (under the lock); return all still to be joined.

        Workers started later get a new event, so they are not called off by this one.
        """
        self._stop.set()
        self._stop = threading.Event()
        self._stopping += self._running.values()
        self._running.clear()
        return list(self._stopping)

    def join(self, threads: list[threading.Thread], wait: float | None) -> None:
        """Join `threads` (without the lock), each for at most `wait` seconds.

        Workers still running are kept, to be joined by the next call.
        """
        for thread in threads:
            thread.join(wait)
        with self._lock:
            self._stopping = [thread for thread in self._stopping if thread.is_alive()]

    def _guarded(
        self, name: str, work: Callable[[threading.Event], None], stop: threading.Event
    ) -> Callable[[], None]:
        """Run a worker until `stop`; a crash goes to `on_crash`, not a hang."""

        def run() -> None:
            try:
                with cancellable(stop):
                    work(stop)
            except Cancelled:
                pass
            except Exception as exc:  # reported to the main thread as each ticket's error
                self._on_crash(name, exc)
            finally:
                with self._lock:
                    self.retire(name)

        return run
