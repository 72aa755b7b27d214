"""The HTTP contract: /health names what does not answer; uploads validate what they are given."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from logpipe.config import Settings
from logpipe.http import create_app, deps

from conftest import TOKEN, Api

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
