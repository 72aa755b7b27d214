"""What a queue or schedule function sets up once per container: its settings, its logs,
its connections (kept between the invocations of a warm container) and the metrics report
that ends each invocation."""

from __future__ import annotations

from contextlib import AbstractContextManager

from . import logs, metrics
from .config import Settings
from .ingest import Context


class Function:
    def __init__(self, name: str) -> None:
        self.name = name
        self.settings = Settings.from_env()
        logs.configure(name, self.settings.log_level)
        self.ctx = Context(self.settings)

    def invocation(self) -> AbstractContextManager[None]:
        """An invocation counted and timed, ending in this process's report."""
        return metrics.invocation(self.name, self._report)

    def _report(self) -> None:
        if self.settings.metrics:
            metrics.report_quietly(self.ctx.borrowed)
