"""The local runner's HTTP server: werkzeug's threaded server, told to answer as the API does.

- Errors that the server itself answers, before any app sees the request (a header or
  request line too long, too many headers, a malformed request), are JSON like the
  API's own, not http.server's HTML page.
- It names no software or version (``Server: logpipe``, not ``Werkzeug/x Python/y``).
- A connection that sends nothing for ``idle_timeout_s`` is closed, so that idle
  keep-alive connections and slow clients (slowloris) hold a thread for that long at
  most; every connection has its own thread, so they never hold up the others.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

SERVER_NAME = "logpipe"


class Handler(WSGIRequestHandler):
    @property
    def server_version(self) -> str:  # type: ignore[override]
        return SERVER_NAME

    sys_version = ""

    def version_string(self) -> str:
        return SERVER_NAME

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


def serve(host: str, port: int, app: Any, idle_timeout_s: float) -> BaseWSGIServer:
    """A threaded server of ``app`` on ``host:port`` (0: any free port), not yet serving."""
    handler = type("LogpipeHandler", (Handler,), {"timeout": idle_timeout_s})
    return make_server(host, port, app, threaded=True, request_handler=handler)
