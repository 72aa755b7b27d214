"""A fake of the parts of GitHub's REST API that logpipe reads, on two local hosts: the API,
and an archive host that the API redirects log downloads to (as GitHub redirects to its
blob storage), which must never receive the token. Zips are built by the tests."""

from __future__ import annotations

import io
import json
import struct
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def zip_of(files: dict[str, bytes], *, utf8_flag: bool = True) -> bytes:
    """A zip of ``files``. Without ``utf8_flag``, names are UTF-8 bytes that the zip does
    not mark as such (bit 11 of each header's flags clear), as some zip writers leave them:
    readers that follow the format take them as code page 437."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    raw = bytearray(buf.getvalue())
    if not utf8_flag:
        with zipfile.ZipFile(io.BytesIO(bytes(raw))) as zf:
            infos, at = zf.infolist(), zf.start_dir  # type: ignore[attr-defined]
        for info in infos:
            _clear_utf8_flag(raw, info.header_offset + 6)  # the local header's flags
            _clear_utf8_flag(raw, at + 8)  # the central directory entry's
            name_len, extra_len, comment_len = struct.unpack_from("<HHH", raw, at + 28)
            at += 46 + name_len + extra_len + comment_len
    return bytes(raw)


def _clear_utf8_flag(raw: bytearray, at: int) -> None:
    (flags,) = struct.unpack_from("<H", raw, at)
    struct.pack_into("<H", raw, at, flags & ~0x800)


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


@dataclass
class FakeGitHub:
    """Routes: ``logs[path] = bytes`` (served through a 302 to the archive host),
    ``errors[path] = (status, headers)`` (answered as is; ``path?query`` for one page),
    ``runs[repo] = [run, ...]`` (the list of runs, newest first, ``page_size`` to a page at
    most, each page with its ETag and GitHub's ``Link`` header; the ``created`` filter is not
    applied), ``jobs[(repo, run, attempt)] = [job, ...]`` (a run attempt's jobs, ``page_size``
    to a page as GitHub pages them). ``prefix`` is the API's path below its host: ``/api/v3``
    on GitHub Enterprise Server."""

    logs: dict[str, bytes] = field(default_factory=dict)
    errors: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    jobs: dict[tuple[str, int, int], list[dict[str, Any]]] = field(default_factory=dict)
    page_size: int = 100
    prefix: str = ""
    api_seen: list[Seen] = field(default_factory=list)
    archive_seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.api = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(self._api))
        self.archive = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(self._archive))
        for server in (self.api, self.archive):
            threading.Thread(target=server.serve_forever, daemon=True).start()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api.server_port}{self.prefix}"

    @property
    def archive_url(self) -> str:
        return f"http://127.0.0.1:{self.archive.server_port}"

    def close(self) -> None:
        for server in (self.api, self.archive):
            server.shutdown()
            server.server_close()

    def hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for s in self.api_seen if s.path.split("?")[0] == path)

    # -- the two hosts ----------------------------------------------------------------
    def _handler(self, answer: Any) -> type[BaseHTTPRequestHandler]:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, headers, body = answer(self.path, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def _api(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.api_seen.append(Seen(path, headers))
        base, _, query = path.partition("?")
        if not base.startswith(self.prefix + "/"):
            return 404, {}, b'{"message": "Not Found"}'
        base = base.removeprefix(self.prefix)
        if base in self.errors or f"{base}?{query}" in self.errors:
            status, extra = self.errors.get(base) or self.errors[f"{base}?{query}"]
            return status, extra, json.dumps({"message": f"fake {status}"}).encode()
        if base in self.logs:
            return 302, {"Location": f"{self.archive_url}/blob{base}?sig=short-lived"}, b""
        parts = base.strip("/").split("/")
        if len(parts) == 5 and parts[0] == "repos" and parts[3:] == ["actions", "runs"]:
            runs = self.runs.get(f"{parts[1]}/{parts[2]}", [])
            params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
            page, size = int(params.get("page", "1")), min(int(params.get("per_page", "30")), self.page_size)
            body = json.dumps(
                {"total_count": len(runs), "workflow_runs": runs[(page - 1) * size : page * size]}
            ).encode()
            etag = f'W/"{hash(body) & 0xFFFFFFFF:x}"'
            if headers.get("if-none-match") == etag:
                return 304, {"ETag": etag}, b""
            answer = {"ETag": etag, "Content-Type": "application/json"}
            last = max(1, -(-len(runs) // size))
            if page < last:  # as GitHub links pages: absolute URLs, the query kept, page replaced
                link = f"{self.api_url}{base}?" + "&".join(f"{k}={v}" for k, v in {**params, "page": "{}"}.items())
                answer["Link"] = f'<{link.format(page + 1)}>; rel="next", <{link.format(last)}>; rel="last"'
            return 200, answer, body
        if (
            len(parts) == 9
            and parts[0] == "repos"
            and parts[3:5] == ["actions", "runs"]
            and parts[6::2] == ["attempts", "jobs"]
        ):
            key = (f"{parts[1]}/{parts[2]}", int(parts[5]), int(parts[7]))
            if key in self.jobs:
                page = int(dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("page", "1"))
                jobs = self.jobs[key][(page - 1) * self.page_size : page * self.page_size]
                body = json.dumps({"total_count": len(self.jobs[key]), "jobs": jobs}).encode()
                return 200, {"Content-Type": "application/json"}, body
        return 404, {}, b'{"message": "Not Found"}'

    def _archive(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.archive_seen.append(Seen(path, headers))
        base = path.split("?")[0]
        logs_path = base.removeprefix("/blob")
        if logs_path in self.logs:
            return 200, {"Content-Type": "application/zip"}, self.logs[logs_path]
        return 404, {}, b""
