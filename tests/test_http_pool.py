"""The API's pooled Postgres connections: a driver error never hands a later request
another request's answer.

Each case breaks a pooled connection the way a request could (pg8000 raising in the
middle of the protocol, a server error, a transaction left open, a dead backend), then
the next 20 uploads must each get their own file id and key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pg8000.native
import pytest

from logpipe.errors import BadRequestError
from logpipe.http import deps

from conftest import Api, query

pytestmark = pytest.mark.services


def _encode_after_parse(conn: pg8000.native.Connection, settings: Any) -> None:
    # pg8000 sends Parse and Describe, then fails to encode the value for Bind.
    conn.run("SELECT :x", x="a\ud800b")


def _decode_mid_rows(conn: pg8000.native.Connection, settings: Any) -> None:
    # json.loads raises while the rows are being read: the rest of the answer stays unread.
    conn.run("SELECT (repeat('[', 3000) || repeat(']', 3000))::json FROM generate_series(1, 3)")


def _server_error(conn: pg8000.native.Connection, settings: Any) -> None:
    conn.run("SELECT 1 / 0")


def _failed_transaction(conn: pg8000.native.Connection, settings: Any) -> None:
    conn.run("BEGIN")
    conn.run("SELECT 1 / 0")


def _open_transaction(conn: pg8000.native.Connection, settings: Any) -> None:
    conn.run("BEGIN")
    conn.run("CREATE TEMP TABLE poisoned (x int)")
    raise BadRequestError("a caller's error in the middle of a transaction")


def _socket_timeout(conn: pg8000.native.Connection, settings: Any) -> None:
    conn._usock.settimeout(0.05)  # the answer arrives after the driver gave up on it
    conn.run("SELECT pg_sleep(1), 7")


def _backend_terminated(conn: pg8000.native.Connection, settings: Any) -> None:
    pid = conn.run("SELECT pg_backend_pid()")[0][0]
    query(settings, "SELECT pg_terminate_backend(:pid)", pid=pid)
    conn.run("SELECT 1")


POISONS: dict[str, Callable[..., None]] = {
    "encode error after Parse (UnicodeEncodeError)": _encode_after_parse,
    "decode error mid-rows (RecursionError)": _decode_mid_rows,
    "server error (DatabaseError)": _server_error,
    "failed transaction (DatabaseError)": _failed_transaction,
    "caller error in an open transaction": _open_transaction,
    "socket timeout mid-answer (TimeoutError)": _socket_timeout,
    "backend terminated (InterfaceError)": _backend_terminated,
}


def _poison(api: Api, name: str) -> None:
    app = api.client.application
    with app.app_context(), pytest.raises(Exception):  # noqa: B017 - each case raises its own
        with deps.pool_of(app).get() as conn:
            POISONS[name](conn, api.settings)


@pytest.mark.parametrize("name", list(POISONS))
def test_a_broken_pooled_connection_never_answers_the_next_requests(api: Api, name: str) -> None:
    assert api.get("/api/files").status_code == 200  # the pool holds a connection
    _poison(api, name)
    ids = []
    for n in range(20):
        r = api.post("/api/uploads", json={"filename": f"after-{n}.log", "size": n + 1})
        assert r.status_code == 201, (n, r.get_json())
        body = r.get_json()
        file_id = body["file_id"]
        assert body["upload"]["fields"]["key"] == f"uploads/{file_id}"
        f = api.file(file_id)
        assert (f["name"], f["size"]) == (f"after-{n}.log", n + 1)
        ids.append(file_id)
    assert len(set(ids)) == 20


@pytest.mark.parametrize("field", ["filename", "content_type"])
@pytest.mark.parametrize("bad", ["a\ud800b", "a\udfffb", "a\x00b"])
def test_text_the_database_cannot_take_is_a_400_and_poisons_nothing(api: Api, field: str, bad: str) -> None:
    body: dict[str, Any] = {"filename": "a.log", "size": 1, field: bad}
    r = api.post("/api/uploads", json=body)
    assert r.status_code == 400, r.get_json()
    assert field in r.get_json()["error"]
    ids = set()
    for n in range(3):
        r = api.post("/api/uploads", json={"filename": f"ok-{n}.log", "size": 1})
        assert r.status_code == 201
        assert api.file(r.get_json()["file_id"])["name"] == f"ok-{n}.log"
        ids.add(r.get_json()["file_id"])
    assert len(ids) == 3


def test_a_pool_opens_at_most_max_open_connections_and_the_rest_wait(make_settings: Callable[..., Any]) -> None:
    """A request beyond ``max_open`` waits for a connection to be given back, and is a 503
    if none is within its timeout: it never opens one more (Postgres has a limit)."""
    from contextlib import ExitStack

    from logpipe.errors import ServiceUnavailableError
    from logpipe.http.pool import Connections

    settings = make_settings()
    pool = Connections(settings, max_open=3)
    try:
        with ExitStack() as held:
            pids = {held.enter_context(pool.get()).run("SELECT pg_backend_pid()")[0][0] for _ in range(3)}
            assert len(pids) == 3
            with pytest.raises(ServiceUnavailableError, match="all 3 connections"), pool.get(timeout_s=0.5):
                pass
            sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            assert query(settings, sql)[0][0] == 3 + 1  # the three held, and this query's own
        with pool.get() as conn:  # given back: taken again
            assert conn.run("SELECT pg_backend_pid()")[0][0] in pids
    finally:
        pool.close()
