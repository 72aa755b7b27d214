"""The HTTP contract: /health names what does not answer; uploads validate what they are given."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from logpipe.config import Settings
from logpipe.http import create_app, deps

from conftest import PG_HOST, PG_PORT, TOKEN, Api, query
from tcp_proxy import TcpProxy

pytestmark = pytest.mark.services


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def health(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., Any]]:
    base = make_settings()
    apps = []

    def get(**changes: Any) -> Any:
        app = create_app(replace(base, **changes))
        apps.append(app)
        return app.test_client().get("/health")

    yield get
    for app in apps:
        deps.close(app)


def test_health_ok(health: Callable[..., Any]) -> None:
    r = health()
    assert r.status_code == 200
    assert r.get_json() == {"status": "ok", "postgres": "ok", "queue": "ok", "bucket": "ok"}


@pytest.mark.parametrize(
    ("change", "component"),
    [
        (lambda: {"psql_port": _closed_port()}, "postgres"),
        (lambda: {"ingest_queue": "no-such-queue"}, "queue"),
        (lambda: {"rabbitmq_url": f"amqp://guest:guest@127.0.0.1:{_closed_port()}/"}, "queue"),
        (lambda: {"bucket": "no-such-bucket"}, "bucket"),
    ],
)
def test_health_names_what_does_not_answer(health: Callable[..., Any], change: Any, component: str) -> None:
    r = health(**change())
    assert r.status_code == 503
    body = r.get_json()
    assert (body["status"], body["failed"]) == ("unavailable", component)
    assert component in body["error"] or (component == "queue" and "RabbitMQ" in body["error"])


def test_api_refuses_requests_without_the_token(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        r = api.get("/api/files", headers=headers)
        assert r.status_code == 401
        assert "error" in r.get_json()
    assert api.get("/api/files").status_code == 200


def test_upload_presign_limits_the_size_and_chooses_the_key(api: Api) -> None:
    r = api.post("/api/uploads", json={"filename": "../../etc/passwd", "size": 123, "content_type": "text/plain"})
    assert r.status_code == 201
    body = r.get_json()
    fields = body["upload"]["fields"]
    assert fields["key"] == f"uploads/{body['file_id']}"
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert ["content-length-range", 0, 123] in policy["conditions"]
    f = api.file(body["file_id"])
    assert (f["name"], f["status"], f["size"]) == ("../../etc/passwd", "awaiting_upload", 123)


def test_unknown_route_is_json(api: Api) -> None:
    r = api.get("/api/nothing-here")
    assert r.status_code == 404
    assert "error" in r.get_json()


def test_pooled_connections_that_died_cost_no_503(make_settings: Callable[..., Settings]) -> None:
    """A connection that died while idle in the pool (the link cut, the backend terminated)
    is found out when taken, and the request gets a fresh one."""
    base = make_settings()
    with TcpProxy(PG_HOST, PG_PORT) as proxy:
        app = create_app(replace(base, psql_port=proxy.port))
        client = app.test_client()
        try:
            assert client.get("/health").status_code == 200
            proxy.cut()  # closes both ends of every connection before it returns
            proxy.restore()
            for _ in range(3):
                r = client.get("/health")
                assert r.status_code == 200, r.get_json()
            assert client.get("/api/files", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        finally:
            deps.close(app)
    # Straight to the server (through the proxy, the end would reach the client a moment later).
    app = create_app(base)
    client = app.test_client()
    try:
        assert client.get("/health").status_code == 200
        # every backend of the database, terminated: each call waits until its process is gone
        query(
            base,
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
            " WHERE datname = :db AND pid <> pg_backend_pid()",
            db=base.psql_db,
        )
        for _ in range(3):
            r = client.get("/health")
            assert r.status_code == 200, r.get_json()
    finally:
        deps.close(app)


def test_health_gives_up_while_postgres_is_frozen(make_settings: Callable[..., Settings]) -> None:
    base = make_settings()
    thaw = threading.Event()
    with TcpProxy(PG_HOST, PG_PORT) as proxy:
        app = create_app(replace(base, psql_port=proxy.port, health_timeout_s=1))
        try:
            client = app.test_client()
            assert client.get("/health").status_code == 200
            proxy.when_sent(b"SELECT 1", thaw.wait)  # the server never sees the check, nor answers it
            answers: list[Any] = []
            asking = threading.Thread(target=lambda: answers.append(client.get("/health")), daemon=True)
            asking.start()
            asking.join(20)  # the driver's own timeout is 30 s: without a shorter one, /health hangs past this
            assert answers, "/health did not answer while Postgres was frozen"
            r = answers[0]
            assert r.status_code == 503
            body = r.get_json()
            assert (body["status"], body["failed"]) == ("unavailable", "postgres")
            assert "no answer within 1 s" in body["error"]
            thaw.set()
            assert client.get("/health").status_code == 200  # the frozen connection was not pooled
        finally:
            thaw.set()
            deps.close(app)


def test_a_database_refusing_connections_is_a_503(make_settings: Callable[..., Settings]) -> None:
    base = make_settings()
    admin = replace(base, psql_db="postgres")
    query(admin, f"ALTER DATABASE {base.psql_db} WITH ALLOW_CONNECTIONS false")
    app = create_app(base)
    try:
        client = app.test_client()
        r = client.get("/api/files", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 503, r.get_json()
        assert r.get_json()["component"] == "postgres"
        r = client.get("/health")
        assert (r.status_code, r.get_json()["failed"]) == (503, "postgres")
    finally:
        query(admin, f"ALTER DATABASE {base.psql_db} WITH ALLOW_CONNECTIONS true")
        deps.close(app)
