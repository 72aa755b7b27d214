"""The local runner's worker processes, kept alive: a worker that dies (kill -9, a crash, the
OOM killer) is started again after a back-off, and while one is down ``/health`` says so.

On AWS, Lambda's event source mapping does this; locally nothing else would, and a dead
worker would leave its queue unserved while every other check still answered.
"""

from __future__ import annotations

import logging
import multiprocessing.connection
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger("logpipe.local")

# A worker that stays up this long is healthy again: its next death waits the first delay.
HEALTHY_AFTER_S = 60.0
MAX_DELAY_S = 60.0


@dataclass
class _Slot:
    name: str
    proc: BaseProcess
    started: float  # monotonic
    down_since: datetime | None = None
    exit_code: int | None = None
    restart_at: float | None = None  # monotonic
    restarts: int = 0
    crashes_in_row: int = 0


def _exit_text(code: int | None) -> str:
    if code is None:
        return "exited"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class Supervisor:
    """Starts each worker with ``start(name)``, watches them, restarts the dead.

    The back-off doubles from ``first_delay_s`` (up to ``MAX_DELAY_S``) for a worker that
    dies again within ``HEALTHY_AFTER_S`` of its start, so a worker that cannot start does
    not spin. ``down()`` says which are down and why, for ``/health``.
    """

    def __init__(self, names: list[str], start: Callable[[str], BaseProcess], first_delay_s: float) -> None:
        self._start = start
        self._first_delay_s = first_delay_s
        self._names = names
        self._slots: list[_Slot] = []
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = multiprocessing.Pipe(duplex=False)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="worker-supervisor")

    def start(self) -> None:
        now = time.monotonic()
        self._slots = [_Slot(name, self._start(name), now) for name in self._names]
        self._thread.start()

    def stop(self) -> list[BaseProcess]:
        """Stop restarting; the current processes, for the caller to end."""
        self._stopping.set()
        self._wake_w.send(None)
        self._thread.join(timeout=10)
        with self._lock:
            return [s.proc for s in self._slots]

    def status(self) -> dict[str, Any]:
        """``{"down": [...], "restarts": n}``: each worker down, since when and why."""
        with self._lock:
            down = [
                {
                    "worker": s.name,
                    "since": s.down_since.isoformat() if s.down_since else None,
                    "why": _exit_text(s.exit_code),
                    "restart_in_s": round(max((s.restart_at or 0) - time.monotonic(), 0), 1),
                }
                for s in self._slots
                if s.down_since is not None
            ]
            return {"down": down, "restarts": sum(s.restarts for s in self._slots)}

    def _watch(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                waits: list[Any] = [s.proc.sentinel for s in self._slots if s.down_since is None]
                due = [s.restart_at for s in self._slots if s.restart_at is not None]
            timeout = max(min(due) - time.monotonic(), 0) if due else None
            multiprocessing.connection.wait([*waits, self._wake_r], timeout)
            if self._stopping.is_set():
                return
            self._step()

    def _step(self) -> None:
        now = time.monotonic()
        with self._lock:
            for s in self._slots:
                if s.down_since is None and not s.proc.is_alive():
                    s.proc.join(timeout=0)
                    s.down_since, s.exit_code = datetime.now(UTC), s.proc.exitcode
                    s.crashes_in_row = s.crashes_in_row + 1 if now - s.started < HEALTHY_AFTER_S else 1
                    delay = min(self._first_delay_s * 2 ** (s.crashes_in_row - 1), MAX_DELAY_S)
                    s.restart_at = now + delay
                    why = _exit_text(s.exit_code)
                    log.warning("worker %s is down (%s); starting it again in %.1f s", s.name, why, delay)
                elif s.restart_at is not None and s.restart_at <= now:
                    s.proc, s.started = self._start(s.name), now
                    s.down_since, s.exit_code, s.restart_at = None, None, None
                    s.restarts += 1
                    log.warning("worker %s started again (restart %d)", s.name, s.restarts)
