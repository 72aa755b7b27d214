"""What the fault suite injected and what it found, printed as a table at the end of the run.

The seed of the run is printed with it: ``LOGPIPE_FAULT_SEED=<seed> make test-faults``
injects the faults at the same points of the work again.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any

SEED = int(os.environ.get("LOGPIPE_FAULT_SEED") or random.SystemRandom().randrange(1, 2**31))


@dataclass
class Row:
    fault: str
    queue: str
    injected: int
    lines: int
    lost: int
    duplicated: int


ROWS: list[Row] = []
STARTED: list[str] = []  # the fault tests that started, so that the seed is printed even when one fails early


def table() -> list[str]:
    head = ("fault", "queue", "times injected", "lines", "rows lost", "rows duplicated")
    cells = [head] + [(r.fault, r.queue, str(r.injected), str(r.lines), str(r.lost), str(r.duplicated)) for r in ROWS]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not ROWS and not STARTED:
        return
    terminalreporter.section(f"faults injected (seed {SEED}: LOGPIPE_FAULT_SEED={SEED} repeats them)")
    for line in table():
        terminalreporter.write_line(line)
