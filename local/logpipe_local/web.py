"""The web app at ``/``: the files Vite built into ``frontend/dist``, served by the local
runner beside the API on the same port, with a Content-Security-Policy that lets the page
talk to this origin and, for uploads, to the bucket's endpoint and nothing else."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .template import ROOT

DIST = ROOT / "frontend" / "dist"

# Uploads go straight to the bucket: on AWS a regional S3 host, locally the S3 endpoint.
AWS_S3 = "https://*.amazonaws.com"


def csp(bucket_endpoint: str) -> str:
    """The page's policy: scripts and styles from this origin only (Vite emits no inline
    script), data: images (uPlot's and Uppy's), and requests to here and the bucket."""
    parts = urlsplit(bucket_endpoint) if bucket_endpoint else None
    bucket = f"{parts.scheme}://{parts.netloc}" if parts and parts.netloc else AWS_S3
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",  # React's and uPlot's style attributes
            "img-src 'self' data: blob:",
            f"connect-src 'self' {bucket}",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'none'",
        )
    )


class WebApp:
    """GET of the built app's files; ``/`` and unknown paths without a dot are the app's page."""

    def __init__(self, dist: Path, bucket_endpoint: str) -> None:
        self.dist = dist.resolve()
        self.policy = csp(bucket_endpoint)

    @property
    def built(self) -> bool:
        return (self.dist / "index.html").is_file()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return _answer(start_response, "405 Method Not Allowed", b"the web app is read-only\n", "text/plain")
        if not self.built:
            body = b"The web app is not built: `make run` builds it (or `npm ci && npm run build` in frontend/).\n"
            return _answer(start_response, "404 Not Found", body, "text/plain")
        target = (self.dist / path.lstrip("/")).resolve()
        if path in ("", "/") or not target.is_relative_to(self.dist) or not target.is_file():
            if "." in path.rsplit("/", 1)[-1]:
                return _answer(start_response, "404 Not Found", b"no such file\n", "text/plain")
            target = self.dist / "index.html"
        body = target.read_bytes()
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind == "application/javascript":
            kind += "; charset=utf-8"
        # Hashed assets never change; the page itself is always asked for again.
        cache = "public, max-age=31536000, immutable" if "/assets/" in path else "no-cache"
        headers = [
            ("Content-Type", kind),
            ("Content-Length", str(len(body))),
            ("Cache-Control", cache),
            ("Content-Security-Policy", self.policy),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
        ]
        start_response("200 OK", headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


def _answer(start_response: Callable[..., Any], status: str, body: bytes, kind: str) -> Iterable[bytes]:
    start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body)))])
    return [body]
