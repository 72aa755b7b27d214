"""The live stream: positions that are final when a reader can see them, resume with no gap
and no duplicate under concurrent writers, filters on the server, and its guardrails."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pg8000.native
import pytest
import requests
from werkzeug.test import EnvironBuilder

from logpipe import db
from logpipe.config import Settings
from logpipe.db import stream as stream_db
from logpipe.db.events import CopyBuffer
from logpipe.http import create_app, deps
from logpipe.stream import tokens
from logpipe.stream.positions import Position
from logpipe.stream.tail import Filter, Tail, follow

from conftest import TOKEN, query
from sse_client import Message, Server, Stream

pytestmark = pytest.mark.services

AUTH = {"Authorization": f"Bearer {TOKEN}"}
LEVELS = ("debug", "info", "warn", "error")


def _file(conn: pg8000.native.Connection, source: str = "upload") -> str:
    file_id = str(uuid.uuid4())
    conn.run(
        "INSERT INTO files (id, name, object_key, upload_kind, status, source) "
        "VALUES (CAST(:f AS uuid), 'test.log', :k, 'external', 'processing', :s)",
        f=file_id,
        k=f"uploads/{file_id}",
        s=source,
    )
    return file_id


@dataclass
class Written:
    file_id: str
    line: int
    level: str
    message: str


def write_batch(
    conn: pg8000.native.Connection,
    file_id: str,
    first_line: int,
    messages: list[tuple[str, str]],
    *,
    hold_s: float = 0.0,
    source: str = "upload",
) -> list[Written]:
    """Commit events and their stream entry in one transaction, as the parse-worker does
    (leaving it without a position, as the parse-worker does),
    holding the transaction open ``hold_s`` so that writers commit out of order."""
    buf = CopyBuffer(file_id, datetime.now(UTC))
    out = []
    for n, (level, message) in enumerate(messages):
        line = first_line + n
        ts = datetime(2026, 11, 30, 12, 0, tzinfo=UTC) + timedelta(seconds=line)
        buf.add(line, ts, level, "text", message, {"n": line, "w": file_id[:4]}, None, False, 1, None)
        out.append(Written(file_id, line, level, message))
    conn.run("BEGIN")
    buf.copy_into(conn)
    if source != "upload":
        conn.run("UPDATE events SET source = :s WHERE file_id = CAST(:f AS uuid)", s=source, f=file_id)
    rows = conn.run(
        "UPDATE files SET lines = lines + :n, events = events + :n WHERE id = CAST(:f AS uuid) "
        "RETURNING status, lines, events, errors",
        n=len(messages),
        f=file_id,
    )
    status, lines, events, errors = rows[0]
    stream_db.append(
        conn,
        stream_db.EVENTS,
        file_id=file_id,
        first_line=first_line,
        end_line=first_line + len(messages),
        data={"id": file_id, "status": status, "lines": lines, "events": events, "errors": errors},
    )
    if hold_s:
        time.sleep(hold_s)  # the point of the test: this transaction commits after later ones
    conn.run("COMMIT")  # and no sequencing: the log's readers do that
    return out


@pytest.fixture
def live(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., tuple[Settings, Server]]]:
    """A stream server over a fresh database: ``live(**settings)``."""
    servers: list[Server] = []

    def start(**overrides: Any) -> tuple[Settings, Server]:
        s = make_settings(**overrides)
        servers.append(Server(create_app(s)))
        return s, servers[-1]

    yield start
    for server in servers:
        server.close()


def test_sequence_ids_commit_out_of_order_but_positions_do_not(make_settings: Callable[..., Settings]) -> None:
    """The trap, shown, and the way out: a reader of ``id > N`` misses a row that commits
    late; a reader of ``pos > N`` cannot."""
    s = make_settings()
    early, late, reader = db.connect(s), db.connect(s), db.connect(s)
    try:
        early.run("BEGIN")
        stream_db.append(early, stream_db.FILE, data={"who": "early"})  # takes the lower id...
        late.run("BEGIN")
        stream_db.append(late, stream_db.FILE, data={"who": "late"})
        late.run("COMMIT")  # ...but commits second
        seen = reader.run("SELECT id FROM stream_log ORDER BY id")
        assert len(seen) == 1  # a reader by id is now at the higher id...
        stream_db.sequence(late)
        assert [e.data for e in stream_db.entries_after(reader, 0)] == [{"who": "late"}]
        early.run("COMMIT")
        missed = reader.run("SELECT count(*) FROM stream_log WHERE id > :n", n=seen[0][0])[0][0]
        assert missed == 0  # ...and "id > N" never shows it the early row
        stream_db.sequence(early)
        after = stream_db.entries_after(reader, 1)  # positions: the late-committing entry comes after
        assert [e.data for e in after] == [{"who": "early"}] and after[0].pos == 2
    finally:
        for c in (early, late, reader):
            c.close()


def test_resume_under_concurrent_writers_gets_exactly_the_rows(
    live: Callable[..., tuple[Settings, Server]],
) -> None:
    s, server = live(stream_heartbeat_s=1)
    writers, batches = 4, 12
    written: list[Written] = []
    lock = threading.Lock()

    def writer(w: int) -> None:
        conn = db.connect(s)
        try:
            file_id = _file(conn)
            line = 1
            wr = random.Random(w)
            for _ in range(batches):
                n = wr.randint(1, 30)
                batch = [(wr.choice(LEVELS), f"writer {w} says {wr.random():.6f}") for _ in range(n)]
                got = write_batch(conn, file_id, line, batch, hold_s=wr.random() * 0.05)
                with lock:
                    written.extend(got)
                line += n
        finally:
            conn.close()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    stream = Stream(server.port, "/api/stream", headers=AUTH)  # from the head, before anything is written
    assert stream.status == 200
    for t in threads:
        t.start()
    rnd = random.Random(11)
    received: list[Message] = []
    reconnects = 0
    while True:
        want, caught_up = rnd.randint(1, 40), False
        for msg in stream:
            if msg.event == "comment":  # a heartbeat: nothing more to send for now
                caught_up = not any(t.is_alive() for t in threads)
                if caught_up:
                    break
                continue
            received.append(msg)
            want -= 1
            if want == 0:
                break  # disconnect at a random point, mid-batch as often as not
        stream.close()
        if caught_up:
            break
        last = received[-1].id if received else None
        stream = Stream(server.port, "/api/stream", headers={**AUTH, "Last-Event-ID": last} if last else AUTH)
        reconnects += 1
        assert reconnects < 5000, "the stream never caught up"

    keys = [(m.json()["file_id"], m.json()["line"]) for m in received if m.event == "log"]
    assert len(keys) == len(set(keys)), "a resumed stream repeated an event"
    rows = query(
        s,
        "SELECT CAST(e.file_id AS text), e.line FROM events e JOIN stream_log l ON l.file_id = e.file_id "
        "AND e.line >= l.first_line AND e.line < l.end_line ORDER BY l.pos, e.line",
    )
    assert len(rows) == len(written) == sum(1 for _ in query(s, "SELECT 1 FROM events"))
    assert keys == [(f, line) for f, line in rows], "what was received is not the rows, in order"
    assert reconnects > 10
    positions = [tuple(int(p) for p in m.id.split(":")) for m in received if m.id]
    assert positions == sorted(positions, key=lambda p: (p[0], p[1] if len(p) > 1 else 1 << 62))


def test_filters_apply_on_the_server(live: Callable[..., tuple[Settings, Server]]) -> None:
    s, server = live(stream_heartbeat_s=1)
    conn = db.connect(s)
    try:
        a, b = _file(conn), _file(conn, source="github")
        start = stream_db.head(conn)
        write_batch(
            conn,
            a,
            1,
            [("info", "user alice logged in"), ("error", "disk full on /var"), ("warn", "user bob: errors ahead")],
        )
        write_batch(conn, b, 1, [("error", "build failed"), ("debug", "ERROR: not really")], source="github")
    finally:
        conn.close()

    def messages(**params: str) -> list[str]:
        st = Stream(server.port, "/api/stream", params={"since": str(start), **params}, headers=AUTH)
        got: list[Message] = []
        try:
            for msg in st:
                if msg.event == "comment":
                    break  # a heartbeat: everything written was sent
                if msg.event == "log":
                    got.append(msg)
        finally:
            st.close()
        return [m.json()["message"] for m in got]

    assert messages(level="error") == ["disk full on /var", "build failed"]
    assert messages(file_id=a) == ["user alice logged in", "disk full on /var", "user bob: errors ahead"]
    assert messages(source="github") == ["build failed", "ERROR: not really"]
    assert messages(q="error") == ["ERROR: not really"]  # a word, whole: "errors" is another word
    assert messages(q='"user bob" -alice') == ["user bob: errors ahead"]
    assert messages(q="fields.n=2") == ["disk full on /var", "ERROR: not really"]


def test_only_file_sends_the_files_changes_and_no_event(live: Callable[..., tuple[Settings, Server]]) -> None:
    """A page that lists files asks for ``only=file``: each file's progress, none of the events."""
    s, server = live(stream_heartbeat_s=1)
    conn = db.connect(s)
    try:
        a = _file(conn)
        start = stream_db.head(conn)
        write_batch(conn, a, 1, [("info", "one"), ("error", "two")])
        write_batch(conn, a, 3, [("info", "three")])
    finally:
        conn.close()

    def kinds(**params: str) -> list[tuple[str, Any]]:
        st = Stream(server.port, "/api/stream", params={"since": str(start), **params}, headers=AUTH)
        got: list[tuple[str, Any]] = []
        try:
            for msg in st:
                if msg.event == "comment":
                    break
                got.append((msg.event, msg.json().get("events") if msg.event == "file" else msg.json()["message"]))
        finally:
            st.close()
        return got

    assert kinds(only="file") == [("file", 2), ("file", 3)]
    assert [k for k in kinds() if k[0] == "log"] == [("log", "one"), ("log", "two"), ("log", "three")]
    refused = requests.get(
        f"http://127.0.0.1:{server.port}/api/stream", params={"only": "log"}, headers=AUTH, timeout=10
    )
    assert refused.status_code == 400 and "'only'" in refused.json()["error"]


def test_auth_bearer_or_a_short_lived_stream_token(live: Callable[..., tuple[Settings, Server]]) -> None:
    _s, server = live()

    def status(params: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> int:
        st = Stream(server.port, "/api/stream", params=params, headers=headers)
        try:
            return st.status
        finally:
            st.close()

    assert status() == 401
    assert status(headers=AUTH) == 200
    import requests

    r = requests.post(f"http://127.0.0.1:{server.port}/api/stream-token", headers=AUTH, timeout=10)
    assert r.status_code == 201 and r.json()["expires_at"] > time.time()
    token = r.json()["token"]
    assert status({"token": token}) == 200
    assert status({"token": token[:-2] + "xx"}) == 401
    assert status({"token": TOKEN}) == 401  # the API token itself is no stream token
    expired, _ = tokens.issue(TOKEN, 60, now=time.time() - 3600)
    assert status({"token": expired}) == 401
    other = requests.get(f"http://127.0.0.1:{server.port}/api/files", params={"token": token}, timeout=10)
    assert other.status_code == 401  # no other route takes a token from the query string
    assert requests.post(f"http://127.0.0.1:{server.port}/api/stream-token", timeout=10).status_code == 401


def test_bad_positions_and_queries_get_a_clear_answer(live: Callable[..., tuple[Settings, Server]]) -> None:
    _s, server = live()
    for headers, params in (
        ({**AUTH, "Last-Event-ID": "garbage"}, None),
        (AUTH, {"since": "12:x"}),
        (AUTH, {"q": "x" * 10_000}),
        (AUTH, {"q": '- "" -'}),
        (AUTH, {"level": "loud"}),
        (AUTH, {"file_id": "nope"}),
        (AUTH, {"q": "fields.=3"}),
    ):
        st = Stream(server.port, "/api/stream", params=params, headers=headers)
        try:
            assert st.status == 400, (headers, params)
            assert st.body()["error"]
        finally:
            st.close()
    st = Stream(server.port, "/api/stream", headers={**AUTH, "Last-Event-ID": "999999"})
    try:
        first = next(iter(st))
        assert first.event == "reset" and "ahead" in first.json()["reason"]
    finally:
        st.close()


def test_heartbeat_and_duration_cap(live: Callable[..., tuple[Settings, Server]]) -> None:
    _s, server = live(stream_heartbeat_s=1, stream_max_s=3)
    st = Stream(server.port, "/api/stream", headers=AUTH)
    try:
        comments = [m.data for m in st if m.event == "comment"]
    finally:
        st.close()
    assert any("heartbeat" in c for c in comments)
    assert "time is up" in comments[-1]  # and then the server ended it: the iteration stopped


def test_too_many_streams_get_429(live: Callable[..., tuple[Settings, Server]]) -> None:
    _s, server = live(stream_max_clients=2)
    held = [Stream(server.port, "/api/stream", headers=AUTH) for _ in range(2)]
    try:
        assert [h.status for h in held] == [200, 200]
        extra = Stream(server.port, "/api/stream", headers=AUTH)
        assert extra.status == 429 and "LOGPIPE_STREAM_MAX_CLIENTS" in extra.body()["error"]
        extra.close()
    finally:
        for h in held:
            h.close()


def test_a_reader_behind_the_ring_catches_up_from_the_database(make_settings: Callable[..., Settings]) -> None:
    """A tiny ring, a reader that takes nothing while batches flow: it must still get every
    event, once, in order, by reading what the ring no longer holds from Postgres."""
    s = make_settings()
    conn = db.connect(s)
    tail = Tail(lambda: db.connect(s), ring_bytes=2000)
    try:
        file_id = _file(conn)
        tail.ensure_started()
        start = Position(tail.head)
        reader = follow(tail, Filter(), start, lambda: closing(db.connect(s)), max_s=60, heartbeat_s=60)
        with tail.cond:
            tail.readers.append(Filter())  # as a reader that is connected but not reading would hold it
        line = 1
        for _ in range(30):
            write_batch(conn, file_id, line, [("info", f"line {line + k} " + "x" * 80) for k in range(10)])
            line += 10
        written = conn.run("SELECT count(*) FROM stream_log")[0][0]  # positions run 1, 2, ... once given
        with tail.cond:
            assert tail.cond.wait_for(lambda: tail.head >= written, timeout=30), "the tail never read the head"
        assert tail.floor > start.pos  # the ring has dropped entries the reader has not seen
        got: list[int] = []
        for chunk in reader:
            for block in chunk.decode().split("\n\n"):
                if "event: log" in block:
                    got.append(int(block.split("id: ", 1)[1].split("\n", 1)[0].split(":")[1]))
            if len(got) >= 300:
                break
        assert got == list(range(1, 301))
    finally:
        tail.stop()
        conn.close()


def test_the_relay_streams_under_gunicorn_as_on_aws(make_settings: Callable[..., Settings]) -> None:
    """functions/sse-relay/run.sh, the command the Lambda Web Adapter starts, serves the stream."""
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    from conftest import ROOT, settings_env

    s = make_settings(stream_heartbeat_s=1)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        **settings_env(s),
        "PORT": str(port),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "LOGPIPE_STREAM_HEARTBEAT_S": "1",
    }
    folder = ROOT / "functions" / "sse-relay"
    proc = subprocess.Popen(["sh", str(folder / "run.sh")], cwd=folder, env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise AssertionError(f"gunicorn did not start serving: {err[-2000:]}") from None
                time.sleep(0.1)
        conn = db.connect(s)
        try:
            file_id = _file(conn)
            start = stream_db.head(conn)
            write_batch(conn, file_id, 1, [("info", "first"), ("error", "second")])
        finally:
            conn.close()
        st = Stream(port, "/api/stream", params={"since": str(start)}, headers=AUTH)
        try:
            assert st.status == 200
            got = []
            for msg in st:
                if msg.event == "comment":
                    break
                got.append((msg.event, msg.json().get("message")))
        finally:
            st.close()
        assert got == [("log", "first"), ("log", "second"), ("file", None)]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()


def test_an_upload_streams_its_events_and_its_progress_until_done(
    make_api: Callable[..., Any], live: Callable[..., tuple[Settings, Server]]
) -> None:
    """Through the real pipeline (presign, bucket, queue, parse-worker in chunks): the stream
    carries every event once, in order, and the file's way from awaiting_upload to done."""
    from conftest import MIXED, pump

    api = make_api(chunk_bytes=1024, batch_rows=50)
    server = Server(create_app(api.settings))
    try:
        start = Stream(server.port, "/api/stream", params={"since": "0"}, headers=AUTH)
        start.close()  # the stream is empty: nothing before position 0
        data = MIXED * 200
        file_id = api.upload("mixed.log", data)
        pump(api.settings)
        assert api.file(file_id)["status"] == "done"
        head = query(api.settings, "SELECT max(pos) FROM stream_log")[0][0]
        st = Stream(server.port, "/api/stream", params={"since": "0", "file_id": file_id}, headers=AUTH)
        got: list[Message] = []
        try:
            for msg in st:
                got.append(msg)
                if msg.id is not None and msg.id.split(":")[0] == str(head) and ":" not in msg.id:
                    break
        finally:
            st.close()
    finally:
        server.close()
    logs = [m.json() for m in got if m.event == "log"]
    rows = query(
        api.settings,
        "SELECT line, message FROM events WHERE file_id = CAST(:f AS uuid) ORDER BY line",
        f=file_id,
    )
    assert sorted((e["line"], e["message"]) for e in logs) == [(line, m) for line, m in rows]
    assert len({e["line"] for e in logs}) == len(logs)
    statuses = [m.json()["status"] for m in got if m.event == "file"]
    assert statuses[0] == "awaiting_upload" and statuses[-1] == "done"
    assert "queued" in statuses and "processing" in statuses
    progress = [m.json()["events"] for m in got if m.event == "file"]
    assert progress == sorted(progress) and progress[-1] == len(rows)


def test_two_relays_serve_the_same_truth(live: Callable[..., tuple[Settings, Server]]) -> None:
    """Relays hold nothing of their own: two servers over one database send the same stream."""
    s, one = live(stream_heartbeat_s=1)
    other = Server(create_app(s))
    try:
        conn = db.connect(s)
        try:
            file_id = _file(conn)
            for n in range(5):
                write_batch(conn, file_id, 1 + 3 * n, [("info", f"m{n}.{k}") for k in range(3)])
        finally:
            conn.close()
        seen = []
        for server in (one, other):
            st = Stream(server.port, "/api/stream", params={"since": "0"}, headers=AUTH)
            try:
                seen.append(_until_idle(st))
            finally:
                st.close()
        assert seen[0] == seen[1] and len([1 for i, _ in seen[0] if ":" in (i or "")]) == 15
    finally:
        other.close()


def _until_idle(st: Stream) -> list[tuple[str | None, str]]:
    out = []
    for msg in st:
        if msg.event == "comment":
            return out
        out.append((msg.id, msg.data))
    return out


def test_a_client_that_never_reads_is_let_go(live: Callable[..., tuple[Settings, Server]]) -> None:
    """Its socket's buffers fill, its sends time out, and its slot is free again: the relay
    holds no more than the socket buffers for it."""
    import socket

    s, server = live(stream_write_timeout_s=1)
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(f"GET /api/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
    try:
        sock.settimeout(30)
        assert b"200" in sock.recv(64)  # the stream is open; from now on nothing is read
        streams = server.app.extensions["logpipe_streams"]
        assert streams.open == 1
        conn = db.connect(s)
        try:
            file_id = _file(conn)
            deadline = time.monotonic() + 60
            line = 1
            while streams.open:  # write until the relay lets the silent client go
                write_batch(conn, file_id, line, [("info", "x" * 4000) for _ in range(200)])
                line += 200
                assert time.monotonic() < deadline, "the relay kept a client that reads nothing"
        finally:
            conn.close()
        assert line > 200  # it took a full socket's worth of events, not the first write
        other = Stream(server.port, "/api/stream", params={"since": "0"}, headers=AUTH)
        assert other.status == 200  # and it serves the others
        other.close()
    finally:
        sock.close()


def test_two_thousand_clients_at_once_each_get_an_answer(live: Callable[..., tuple[Settings, Server]]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    s, server = live(stream_max_clients=50, stream_heartbeat_s=1)
    watcher = Stream(server.port, "/api/stream", headers=AUTH)  # one that must keep being served
    held: list[Stream] = []
    lock = threading.Lock()

    def connect(_: int) -> int:
        st = Stream(server.port, "/api/stream", headers=AUTH, timeout=60)
        if st.status == 200:
            with lock:
                held.append(st)
        else:
            st.body()
            st.close()
        return st.status

    try:
        with ThreadPoolExecutor(max_workers=64) as pool:
            statuses = list(pool.map(connect, range(2000)))
        assert set(statuses) <= {200, 429}
        assert statuses.count(200) == 49  # the cap, less the watcher
        conn = db.connect(s)
        try:
            write_batch(conn, _file(conn), 1, [("error", "still here")])
        finally:
            conn.close()
        got = next(m for m in watcher if m.event == "log")
        assert got.json()["message"] == "still here"
    finally:
        watcher.close()
        for st in held:
            st.close()


def test_a_stream_closed_before_its_first_read_gives_its_slot_back(make_settings: Callable[..., Settings]) -> None:
    """A server closes a body it never read when its client left first. Flask's test client
    always reads the first chunk (werkzeug's run_wsgi_app waits for it), so the WSGI app is
    called here as a server calls it."""
    app = create_app(make_settings(stream_max_clients=1))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        started: list[str] = []
        body = app(
            EnvironBuilder(path="/api/stream", headers=headers).get_environ(), lambda s, h, e=None: started.append(s)
        )
        assert started == ["200 OK"]
        body.close()  # type: ignore[attr-defined] - never iterated
        second = app.test_client().get("/api/stream", headers=headers, buffered=False)
        try:
            assert second.status_code == 200, second.get_json()
        finally:
            second.close()
    finally:
        deps.close(app)
