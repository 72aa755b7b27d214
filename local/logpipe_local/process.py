"""What every process the runner starts (HTTP servers, moto, workers) does for itself."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

PARENT_POLL_S = 1.0


def name_process(name: str) -> None:
    """Name this process as ``ps`` and ``top`` show it (Linux; elsewhere nothing), so that the
    runner's server, moto and worker processes can be told apart."""
    try:
        with open("/proc/self/comm", "w", encoding="ascii") as fh:
            fh.write(name[:15])
    except OSError:
        pass


def stop_with_parent(then: Callable[[], object] | None = None, poll_s: float = PARENT_POLL_S) -> None:
    """Send this process SIGTERM (or call ``then``) once the runner that started it is gone.

    A runner stopped by Ctrl-C or SIGTERM stops its children itself; one killed with -9
    cannot, and its server processes would go on holding the port, moto its objects and the
    workers their queues. The child notices that it was handed to another parent and stops
    as SIGTERM stops it (its own handler: finish the request or message in hand). Polled
    rather than PR_SET_PDEATHSIG, which fires when the *thread* that started the child ends,
    and the supervisor restarts workers from threads that do.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        if then is not None:
            then()
        else:
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
