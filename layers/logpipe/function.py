"""What a queue or schedule function sets up once per container: its settings, its logs,
its connections (kept between the invocations of a warm container) and the metrics report
that ends its invocations."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager

from . import logs, metrics
from .config import Settings
from .ingest import Context

# While invocations follow each other, a report ends one of them this often at most: a
# report is a transaction of its own, which a small file's invocation would otherwise pay.
REPORT_EVERY_S = 10.0


class Function:
    def __init__(self, name: str) -> None:
        self.name = name
        self.settings = Settings.from_env()
        logs.configure(name, self.settings.log_level)
        self.ctx = Context(self.settings)
        self._reported_at = float("-inf")

    def invocation(self, *, more_coming: bool = False) -> AbstractContextManager[None]:
        """An invocation counted and timed, ending in this process's report, unless
        ``more_coming`` (it had a full batch: the next invocation is near) and the last
        report is less than ``REPORT_EVERY_S`` old. What the process counted since its last
        report dies with it (see ``metrics``): at most that long of a busy run's counts,
        never the rows' (they are counted with the rows)."""
        return metrics.invocation(self.name, lambda: self._report(more_coming))

    def _report(self, more_coming: bool) -> None:
        now = time.monotonic()
        if not self.settings.metrics or (more_coming and now - self._reported_at < REPORT_EVERY_S):
            return
        self._reported_at = now
        metrics.report_quietly(self.ctx.borrowed)
