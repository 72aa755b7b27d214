"""The schema and the file-state rules, on real PostgreSQL: migrations applied over rows
that exist already, and what a committed batch does to a file's status."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pg8000.native
import pytest

from logpipe import db
from logpipe.config import Settings
from logpipe.db import files as files_db
from logpipe.db.migrate import migrate

from conftest import PG_HOST, PG_PORT, PG_USER, drop_database, make_database

pytestmark = pytest.mark.services

# (status, error, chunks_total, chunks_done) as the code before migration 0004 wrote
# them, and the failure each must be read as.
BEFORE_0004 = {
    "done": (("done", None, 1, 1), None),
    "waiting": (("awaiting_upload", None, None, 0), None),
    "dead-lettered": (("failed", "dead-lettered: KeyError: 'x'", 2, 1), "dead_lettered"),
    # Re-planned by a replay: still dead-lettered until its last chunk is done.
    "replanned": (("queued", "dead-lettered: object 'k' is not in bucket b", 1, 0), "dead_lettered"),
    "expired": (("failed", "the upload never completed: its links expired 900 s after ...", None, 0), "upload"),
    "oversized": (("failed", "the uploaded object is 10 bytes but 5 were declared: not parsed", None, 0), "upload"),
    "binary": (("failed", "this is a binary file (NUL or control bytes in its first 8 KiB), not a text log", None, 0),
               "content"),
    "damaged": (("failed", "gzip stream is truncated: it ends after 99 compressed bytes without its trailer", 1, 0),
                "content"),
}  # fmt: skip


@pytest.fixture
def conn() -> Iterator[pg8000.native.Connection]:
    name = make_database()
    c = db.connect(Settings.from_env({}, psql_addr=PG_HOST, psql_port=PG_PORT, psql_user=PG_USER, psql_db=name))
    try:
        yield c
    finally:
        c.close()
        drop_database(name)


def state(conn: pg8000.native.Connection, file_id: str) -> tuple[str, str | None, str | None]:
    rows = conn.run("SELECT status, error, failure FROM files WHERE id = CAST(:f AS uuid)", f=file_id)
    return rows[0][0], rows[0][1], rows[0][2]


def commit_batch(conn: pg8000.native.Connection, file_id: str, *, chunk_done: bool) -> None:
    """What a committed batch of one line does to its file."""
    conn.run("BEGIN")
    files_db.add_progress(
        conn, file_id, lines=1, events=1, errors=0, truncated=0, chunk_done=chunk_done, content_error=None
    )
    conn.run("COMMIT")


def test_migration_0004_reads_each_failure_from_the_error_text_and_replays_still_finish(
    conn: pg8000.native.Connection,
) -> None:
    assert migrate(conn, upto=3) == ["0001_core", "0002_multiline_sources_patterns", "0003_pattern_aliases"]
    ids = {}
    for label, ((status, error, total, done), _) in BEFORE_0004.items():
        ids[label] = str(uuid.uuid4())
        conn.run(
            "INSERT INTO files (id, name, object_key, upload_kind, status, error, chunks_total, chunks_done) "
            "VALUES (CAST(:id AS uuid), :n, :k, 'post', :s, :e, :t, :d)",
            id=ids[label], n=label, k=f"uploads/{ids[label]}", s=status, e=error, t=total, d=done,
        )  # fmt: skip

    assert migrate(conn, upto=4) == ["0004_file_failure"]

    for label, ((status, error, _, _), failure) in BEFORE_0004.items():
        assert state(conn, ids[label]) == (status, error, failure), label
    migrate(conn)  # the code that finishes them reads today's schema

    # A file failed only by dead-lettering stays failed while other chunks go on, and is
    # done, its error gone, when the replay finishes its last chunk.
    dead = ids["dead-lettered"]
    commit_batch(conn, dead, chunk_done=False)
    assert state(conn, dead) == ("failed", "dead-lettered: KeyError: 'x'", "dead_lettered")
    commit_batch(conn, dead, chunk_done=True)
    assert state(conn, dead) == ("done", None, None)

    replanned = ids["replanned"]
    commit_batch(conn, replanned, chunk_done=False)
    assert state(conn, replanned) == ("processing", BEFORE_0004["replanned"][0][1], "dead_lettered")
    commit_batch(conn, replanned, chunk_done=True)
    assert state(conn, replanned) == ("done", None, None)

    # Any other failure stands, whatever its chunks do.
    damaged = ids["damaged"]
    commit_batch(conn, damaged, chunk_done=True)
    assert state(conn, damaged) == ("failed", BEFORE_0004["damaged"][0][1], "content")


def test_a_failure_is_one_of_the_known_kinds(conn: pg8000.native.Connection) -> None:
    migrate(conn)
    file_id = str(uuid.uuid4())
    conn.run(
        "INSERT INTO files (id, name, object_key, upload_kind) VALUES (CAST(:id AS uuid), 'f', :k, 'post')",
        id=file_id,
        k=f"uploads/{file_id}",
    )
    with pytest.raises(pg8000.native.DatabaseError, match="files_failure_check"):
        conn.run("UPDATE files SET failure = 'gremlins' WHERE id = CAST(:id AS uuid)", id=file_id)
