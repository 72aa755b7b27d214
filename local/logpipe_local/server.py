"""The local runner's HTTP server: werkzeug's request handling, told to answer as the API
does, under a server that bounds what a client can hold.

- Errors that the server itself answers, before any app sees the request (a header or
  request line too long, too many headers, a malformed request), are JSON like the
  API's own, not http.server's HTML page.
- It names no software or version (``Server: logpipe``, not ``Werkzeug/x Python/y``).
- HTTP/1.1 with keep-alive: a client sends request after request on one connection.
- A connection has ``idle_timeout_s`` from the moment the server waits for a request to
  the end of that request's headers: an idle keep-alive connection, and a slow client
  that sends its headers a byte at a time (slowloris), are closed then, however often
  they send a byte. Reading a body and writing an answer wait that long for each read
  or write.
- Each connection has its own thread, up to ``max_connections`` per process: a process
  that is full accepts nothing more until one ends, and the connections waiting meanwhile
  are taken by another process serving the same socket (``listen`` and ``serve(sock=)``),
  or by this one once a slot frees (the idle ones free theirs within ``idle_timeout_s``).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from http import HTTPStatus
from socketserver import ThreadingMixIn
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler

SERVER_NAME = "logpipe"

# Connections (threads) one server process holds at most. A stream holds its connection
# for as long as it lasts; the stream's own cap (LOGPIPE_STREAM_MAX_CONCURRENT) is lower.
MAX_CONNECTIONS = 256
BACKLOG = 1024  # connections the kernel queues for the processes to accept


def default_processes() -> int:
    """Server processes when none is configured: one per core, at least two (a request that
    waits for Postgres or S3 holds no core, and one process per core keeps every core busy)."""
    return max(2, os.cpu_count() or 1)


class Handler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: werkzeug sends a length or chunks every answer
    server: Server

    @property
    def server_version(self) -> str:  # type: ignore[override]
        return SERVER_NAME

    sys_version = ""

    def version_string(self) -> str:
        return SERVER_NAME

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """No access log: each function logs its requests itself, and a line per request
        on a busy webhook would cost more than the request."""

    def handle_one_request(self) -> None:
        self.server.headers_deadline.arm(self.connection)
        try:
            super().handle_one_request()
        finally:
            self.server.headers_deadline.disarm(self.connection)

    def parse_request(self) -> bool:
        if self.server.headers_deadline.disarm(self.connection):
            # The deadline cut the connection: what was read is not a whole request.
            self.close_connection = True
            return False
        return bool(super().parse_request())

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals, as a JSON error that says what to fix."""
        try:
            status = HTTPStatus(code)
            short, long = status.phrase, status.description
        except ValueError:
            short, long = "error", ""
        body = json.dumps({"error": f"{message or short}: {explain or long}".rstrip(": ")}).encode()
        self.log_error("code %d, message %s", code, message)
        self.send_response(code, short)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.close_connection = True
        if self.command != "HEAD" and code >= 200 and code not in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED):
            self.wfile.write(body)


class HeadersDeadline:
    """Connections waiting for a request's headers, each cut at its deadline.

    A socket timeout bounds each read, not the whole: a client that sends a byte every few
    seconds would hold its thread for ever. One thread per server looks at the deadlines
    twice a second and shuts down the sockets past theirs, which ends the read under way.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._due: dict[socket.socket, float] = {}
        self._cut: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="http-headers-deadline")
        self._thread.start()

    def arm(self, conn: socket.socket) -> None:
        with self._lock:
            self._due[conn] = time.monotonic() + self.timeout_s

    def disarm(self, conn: socket.socket) -> bool:
        """Stop watching ``conn``; whether its deadline had cut it."""
        with self._lock:
            self._due.pop(conn, None)
            if conn in self._cut:
                self._cut.discard(conn)
                return True
            return False

    def close(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        tick = min(0.5, self.timeout_s / 4)
        while not self._stop.wait(tick):
            now = time.monotonic()
            with self._lock:
                late = [conn for conn, due in self._due.items() if due <= now]
                for conn in late:
                    del self._due[conn]
                    self._cut.add(conn)
            for conn in late:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # closed meanwhile by its own thread


class Server(ThreadingMixIn, BaseWSGIServer):
    """A thread per connection, at most ``max_connections`` at once."""

    multithread = True
    daemon_threads = True
    block_on_close = False
    request_queue_size = BACKLOG

    def __init__(
        self,
        host: str,
        port: int,
        app: Any,
        handler: type[Handler],
        idle_timeout_s: float,
        max_connections: int,
        sock: socket.socket | None = None,
    ) -> None:
        self._sock = sock  # kept open for as long as the server serves it
        self._ready = False  # werkzeug's own start closes a socket of its own before it is
        super().__init__(host, port, app, handler, fd=sock.fileno() if sock is not None else None)
        if sock is not None:
            # Several processes wait on one socket: each is told of every connection and
            # one takes it; the others must not then block in accept.
            self.socket.setblocking(False)
        self.slots = threading.BoundedSemaphore(max_connections)
        self.headers_deadline = HeadersDeadline(idle_timeout_s)
        self._ready = True

    def _handle_request_noblock(self) -> None:
        # Full: leave the connection queued for another process, or for a slot that frees.
        if not self.slots.acquire(timeout=0.05):
            return
        try:
            request, client_address = self.get_request()
        except OSError:  # another process took it
            self.slots.release()
            return
        try:
            self.process_request(request, client_address)
        except Exception:  # noqa: BLE001 - no thread started: this connection alone fails, its slot frees
            self.handle_error(request, client_address)
            self.shutdown_request(request)
            self.slots.release()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def server_close(self) -> None:
        super().server_close()
        if self._ready:
            self.headers_deadline.close()
            if self._sock is not None:
                self._sock.close()


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (0: any free port) for server processes to share."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def serve(
    host: str,
    port: int,
    app: Any,
    idle_timeout_s: float,
    max_connections: int = MAX_CONNECTIONS,
    sock: socket.socket | None = None,
) -> Server:
    """A threaded server of ``app`` on ``host:port`` (0: any free port), or on ``sock``
    (from ``listen``, maybe shared with other processes), not yet serving."""
    handler = type("LogpipeHandler", (Handler,), {"timeout": idle_timeout_s})
    return Server(host, port, app, handler, idle_timeout_s, max_connections, sock)
