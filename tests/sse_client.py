"""A small server-sent events client for the tests: reads messages off a real socket."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from werkzeug.serving import BaseWSGIServer, make_server


@dataclass
class Message:
    event: str = "message"
    id: str | None = None
    data: str = ""
    comments: list[str] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.data)


class Server:
    """A WSGI app on 127.0.0.1, served by werkzeug's threaded server as ``logpipe run`` does."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.httpd: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.httpd.server_port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        from logpipe.http import deps

        self.httpd.shutdown()
        self.httpd.server_close()
        deps.close(self.app)


class Stream:
    """One GET of an SSE endpoint; iterate for its messages (comments ride on the next one)."""

    def __init__(
        self,
        port: int,
        path: str,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        url = path + ("?" + urlencode(params) if params else "")
        self.conn.request("GET", url, headers=headers or {})
        self.response = self.conn.getresponse()
        self.status = self.response.status

    def body(self) -> Any:
        return json.loads(self.response.read())

    def __iter__(self) -> Iterator[Message]:
        msg = Message()
        while True:
            raw = self.response.readline()
            if not raw:
                return  # the server ended the stream
            line = raw.decode("utf-8").rstrip("\n")
            if line == "":
                if msg.data or msg.id is not None or msg.event != "message":
                    yield msg
                    msg = Message()
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "":
                msg.comments.append(value)
                if value.startswith(" heartbeat") or value.startswith("heartbeat") or "time is up" in value:
                    yield Message(event="comment", data=value)
            elif name == "event":
                msg.event = value
            elif name == "id":
                msg.id = value
            elif name == "data":
                msg.data = value if not msg.data else msg.data + "\n" + value

    def close(self) -> None:
        self.conn.close()
