"""The local runner's HTTP server, over real sockets on 127.0.0.1: its own refusals are
JSON, and hostile clients (long headers, slow or idle connections) do not stop it serving."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from logpipe.config import Settings
from logpipe.http import create_app, deps
from logpipe_local.server import MAX_CONNECTIONS, serve

from conftest import TOKEN

pytestmark = pytest.mark.services

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def server(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., str]]:
    """``server(idle_timeout_s=...)``: the API under the local server; its base URL."""
    started: list[tuple[Any, Any, threading.Thread]] = []

    def start(idle_timeout_s: float = 30, max_connections: int = MAX_CONNECTIONS) -> str:
        app = create_app(make_settings())
        srv = serve("127.0.0.1", 0, app, idle_timeout_s, max_connections)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        started.append((srv, app, t))
        return f"http://127.0.0.1:{srv.server_port}"

    yield start
    for srv, app, t in started:
        srv.shutdown()
        srv.server_close()
        t.join(10)
        deps.close(app)


def _raw(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as it is; the status, headers and body of the answer."""
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /api/files HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        (b"GET /api/files HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(150)) + b"\r\n", 431),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ],
    ids=["a header too long", "too many headers", "a request line too long"],
)
def test_the_servers_own_refusals_are_json(server: Callable[..., str], request_bytes: bytes, status: int) -> None:
    url = server()
    got, headers, body = _raw(url, request_bytes)
    assert got == status
    assert headers["content-type"] == "application/json"
    assert isinstance(json.loads(body)["error"], str)
    assert headers["server"] == "logpipe"


def test_the_server_names_no_software_or_version(server: Callable[..., str]) -> None:
    url = server()
    for r in (requests.get(f"{url}/api/files", headers=AUTH, timeout=30), requests.get(f"{url}/nothing", timeout=30)):
        assert r.headers["Server"] == "logpipe"
        assert "werkzeug" not in str(r.headers).lower() and "python" not in str(r.headers).lower()


def _connect(url: str) -> socket.socket:
    return socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=30)


def test_idle_and_slow_clients_do_not_stop_it_serving_others(server: Callable[..., str]) -> None:
    """Hundreds of connections that send nothing, and slow ones that never finish their
    headers (slowloris): every other client is still answered, and the idle ones are let go."""
    url = server(idle_timeout_s=2)
    idle = [_connect(url) for _ in range(200)]
    slow = [_connect(url) for _ in range(20)]
    try:
        for s in slow:
            s.sendall(b"GET /api/files HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # and never the rest
        for _ in range(5):
            r = requests.get(f"{url}/api/files", headers=AUTH, timeout=15)  # fails loudly if it is not served
            assert r.status_code == 200
        # The server closes the idle ones once they were quiet for idle_timeout_s: each read ends.
        for s in idle[:20] + slow[:5]:
            s.settimeout(20)
            assert s.recv(1) == b"", "a quiet connection was kept open"
    finally:
        for s in idle + slow:
            s.close()


def _closed_by_server(s: socket.socket, trickle: bytes, within_s: float) -> bool:
    """Send ``trickle`` a byte at a time, one every 0.2 s (a slow client's pace, never a
    whole request), until the server closes the connection or ``within_s`` passes."""
    deadline = time.monotonic() + within_s
    for byte in (trickle[i : i + 1] for i in range(len(trickle))):
        if time.monotonic() > deadline:
            return False
        try:
            s.sendall(byte)
        except OSError:  # reset by the server
            return True
        readable, _, _ = select.select([s], [], [], 0.2)
        if readable:
            try:
                return s.recv(65536) == b""
            except OSError:
                return True
    return False


def test_a_client_that_sends_its_headers_a_byte_at_a_time_is_cut_at_the_deadline(
    server: Callable[..., str],
) -> None:
    """A read timeout alone never ends a slowloris client that sends a byte before each
    timeout: the headers must be whole within the deadline, however often bytes arrive."""
    url = server(idle_timeout_s=2)
    slow = _connect(url)
    try:
        headers = b"GET /api/files HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 1000
        assert _closed_by_server(slow, headers, within_s=60), "a slow client kept its connection for 60 s"
        r = requests.get(f"{url}/api/files", headers=AUTH, timeout=15)
        assert r.status_code == 200
    finally:
        slow.close()


def test_connections_are_capped_per_process_and_the_rest_wait_their_turn(server: Callable[..., str]) -> None:
    """Beyond ``max_connections`` the server starts no thread: the connections wait in the
    queue, and a request among them is answered once the idle ones are let go."""
    before = threading.active_count()
    url = server(idle_timeout_s=2, max_connections=8)
    idle = [_connect(url) for _ in range(30)]
    try:
        r = requests.get(f"{url}/api/files", headers=AUTH, timeout=60)  # after the idle ones' deadlines
        assert r.status_code == 200
        # The server's own threads (its loop, its deadline watch) and at most 8 connections.
        assert threading.active_count() <= before + 2 + 8 + 1
    finally:
        for s in idle:
            s.close()


def test_a_header_too_long_does_not_stop_it_serving_others(server: Callable[..., str]) -> None:
    url = server()
    for _ in range(20):
        got, _, _ = _raw(url, b"GET /api/files HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
        assert got == 431
    assert requests.get(f"{url}/api/files", headers=AUTH, timeout=15).status_code == 200


@pytest.mark.parametrize("name", ["token", "access_token", "api_token", "authorization"])
@pytest.mark.parametrize("path", ["/api/files", "/api/patterns", "/api/events", "/api/rollups", "/api/openapi.json"])
def test_a_token_in_the_query_string_opens_no_api_route(server: Callable[..., str], path: str, name: str) -> None:
    url = server()
    r = requests.get(f"{url}{path}", params={name: TOKEN}, timeout=15)
    assert r.status_code == 401, r.text
    assert "error" in r.json()


def test_the_stream_takes_only_a_stream_token_in_its_query(server: Callable[..., str]) -> None:
    url = server()
    r = requests.get(f"{url}/api/stream", params={"token": TOKEN}, timeout=15)  # the API token itself: no
    assert r.status_code == 401
    issued = requests.post(f"{url}/api/stream-token", headers=AUTH, timeout=15).json()["token"]
    with requests.get(f"{url}/api/stream", params={"token": issued}, timeout=15, stream=True) as r:
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
