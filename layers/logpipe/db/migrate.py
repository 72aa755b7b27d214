"""Versioned SQL migrations: ``migrations/NNNN_name.sql``, applied once each, in order.

Safe to run from several processes at once (an advisory lock serialises them) and
idempotent (applied versions are recorded in ``schema_migrations``).
"""

from __future__ import annotations

import re
from importlib import resources

import pg8000.native

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x6C6F6770  # "logp"


def available() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped with the package, in order."""
    found = []
    for entry in resources.files(__package__).joinpath("migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append((int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    return sorted(found)


def migrate(conn: pg8000.native.Connection, *, upto: int | None = None) -> list[str]:
    """Apply the migrations this database lacks (those up to version ``upto`` only, when
    given); returns the names it applied."""
    conn.run("SELECT pg_advisory_lock(:k)", k=_LOCK_KEY)
    try:
        conn.run(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.run("SELECT version FROM schema_migrations")}
        applied = []
        for version, name, sql in available():
            if version in done or (upto is not None and version > upto):
                continue
            conn.run("BEGIN")
            try:
                conn.execute_simple(sql)
                conn.run("INSERT INTO schema_migrations (version, name) VALUES (:v, :n)", v=version, n=name)
                conn.run("COMMIT")
            except Exception:
                conn.run("ROLLBACK")
                raise
            applied.append(f"{version:04d}_{name}")
        return applied
    finally:
        conn.run("SELECT pg_advisory_unlock(:k)", k=_LOCK_KEY)
