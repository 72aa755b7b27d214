"""What a parse-worker process keeps between messages: settings, reused connections, its pattern miner."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import pg8000.native

from .. import db
from ..config import Settings
from ..db import patterns as patterns_db
from ..patterns import PatternMiner
from ..queue import WorkQueue, ingest_queue, work_queue
from ..storage import Bucket

if TYPE_CHECKING:
    from ..queue.sqs import SqsQueue

# Distinct message shapes a worker's pattern miner may hold (a few hundred bytes each).
MAX_MINER_SHAPES = 200_000
# How many of the most frequent known templates a new miner learns before its first line.
PREWARM_TEMPLATES = 5000


@dataclass
class Context:
    """Settings and the connections a worker reuses, each opened on first use."""

    settings: Settings
    _conn: pg8000.native.Connection | None = None
    _miner: PatternMiner | None = None
    clock: Callable[[], float] = field(default=time.monotonic)

    @property
    def conn(self) -> pg8000.native.Connection:
        if self._conn is None:
            self._conn = db.connect(self.settings)
        return self._conn

    def drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - it is already broken; we only let go of it
                pass

    @contextmanager
    def borrowed(self) -> Iterator[pg8000.native.Connection]:
        """The connection, for work of its own outside any transaction (a metrics report);
        let go of when that work fails, as any failure here may have broken it."""
        try:
            yield self.conn
        except BaseException:
            self.drop_connection()
            raise

    def rollback(self) -> None:
        """End the transaction under way, if any; a connection that cannot is let go of."""
        try:
            self.conn.run("ROLLBACK")
        except Exception:  # noqa: BLE001 - the connection is broken: start afresh next time
            self.drop_connection()

    @contextmanager
    def transaction(self) -> Iterator[pg8000.native.Connection]:
        """The connection, in a transaction that commits when the block ends and rolls back
        when it raises (or when the commit fails)."""
        conn = self.conn
        try:
            conn.run("BEGIN")
            yield conn
            conn.run("COMMIT")
        except BaseException:
            self.rollback()
            raise

    @property
    def miner(self) -> PatternMiner:
        """This process's pattern miner: templates keep sharpening across the chunks it reads.

        A new one (a cold start, or a reset at ``MAX_MINER_SHAPES`` to bound memory) first
        learns the most frequent templates found so far by every worker, so that its first
        lines get the templates the others settled on rather than ones of their own.
        """
        if self._miner is None or len(self._miner) > MAX_MINER_SHAPES:
            miner = PatternMiner()
            for template in patterns_db.most_frequent_templates(self.conn, PREWARM_TEMPLATES):
                miner.add(template)  # a template is a message whose values are masked already
            self._miner = miner
        return self._miner

    # The bucket and the queues are made on first use, once (cached_property).

    @cached_property
    def bucket(self) -> Bucket:
        return Bucket(self.settings)

    @cached_property
    def queue(self) -> WorkQueue:
        return work_queue(self.settings)

    @cached_property
    def ingest(self) -> SqsQueue:
        """The queue the bucket notifies, made once: a new one would look its URL up again."""
        return ingest_queue(self.settings)

    def close(self) -> None:
        self.drop_connection()
        queue: WorkQueue | None = self.__dict__.get("queue")  # only if made
        if queue is not None:
            queue.close()
