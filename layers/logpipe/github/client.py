"""GitHub's REST API, as the log fetcher and the poller use it.

- The token goes to ``GITHUB_API_URL`` and nowhere else: a log download answers 302 to a
  short-lived link on a storage host, which is followed without the Authorization header.
- Rate limits are read in one place (``rate_limit_wait``): ``retry-after`` first, then
  ``x-ratelimit-remaining: 0`` with ``x-ratelimit-reset``; a 429 that says neither is an
  ordinary failure, which the retry policy backs off from.
- 401, 404 and 410 (logs expired or deleted, a repository the token cannot see) and a 403 that
  is not a rate limit are ``LogsUnavailableError``: permanent, never retried.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urljoin

from ..errors import LogpipeError, RetryableError

USER_AGENT = "logpipe"
MAX_REDIRECTS = 3
TIMEOUT_S = 60


class GitHubError(LogpipeError):
    """The API answered something this client cannot use."""


class LogsUnavailableError(GitHubError):
    """404, 410 or a 403 that is no rate limit: the logs are gone or not ours to read."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"GitHub answered {status}: {reason}")
        self.status = status


class RateLimitedError(RetryableError):
    """GitHub said when to come back: after ``wait_s`` seconds."""

    def __init__(self, wait_s: int, detail: str) -> None:
        super().__init__(f"GitHub rate limit: {detail}; again in {wait_s} s")
        self.wait_s = wait_s


def rate_limit_wait(status: int, headers: Mapping[str, str], now: float) -> int | None:
    """Seconds GitHub asks to wait before the next request, or None when it says nothing
    (or this answer is not about a rate limit)."""
    if status not in (403, 429):
        return None
    retry_after = headers.get("retry-after")
    if retry_after is not None and retry_after.strip().isdigit():
        return max(1, int(retry_after))
    if headers.get("x-ratelimit-remaining") == "0":
        reset = headers.get("x-ratelimit-reset", "")
        if reset.strip().isdigit():
            return max(1, int(reset) - int(now) + 1)
    return None


def next_link(headers: Mapping[str, str]) -> str | None:
    """The URL of the next page that a ``Link`` header names (``<url>; rel="next"``), if any."""
    for part in headers.get("link", "").split(","):
        url, _, params = part.strip().partition(">")
        rels = [p.strip().removeprefix("rel=").strip('"') for p in params.split(";") if p.strip().startswith("rel=")]
        if url.startswith("<") and "next" in " ".join(rels).split():
            return url[1:]
    return None


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # redirects come back as answers, to be followed without the token


_opener = urllib.request.build_opener(_NoRedirect)


class GitHubApi:
    def __init__(self, base_url: str, token: str, clock: Callable[[], float] = time.time) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.clock = clock

    def _open(self, url: str, headers: dict[str, str]) -> Any:
        req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **headers})
        try:
            return _opener.open(req, timeout=TIMEOUT_S)
        except urllib.error.HTTPError as exc:
            return exc  # an answer like any other: its status decides
        except (urllib.error.URLError, OSError) as exc:
            raise RetryableError(f"GitHub API {url}: {exc}") from exc

    def _api_headers(self, etag: str | None = None) -> dict[str, str]:
        h = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        if etag:
            h["If-None-Match"] = etag
        return h

    def _check(self, url: str, status: int, headers: dict[str, str], body: bytes) -> None:
        wait = rate_limit_wait(status, headers, self.clock())
        if wait is not None:
            raise RateLimitedError(wait, f"{status} from {url}")
        if status == 429:
            raise GitHubError(f"GitHub answered 429 from {url} without saying when to come back")
        if status in (401, 403, 404, 410):
            detail = body[:300].decode("utf-8", "replace").strip() or "no body"
            raise LogsUnavailableError(status, f"{url}: {detail}")
        if status >= 500:
            raise RetryableError(f"GitHub answered {status} from {url}")
        if status >= 400:
            raise GitHubError(f"GitHub answered {status} from {url}")

    def below(self, url: str) -> str:
        """The path below the base URL of ``url`` (a page link GitHub gave): the token goes to
        the API and nowhere else."""
        if not url.startswith(self.base_url + "/"):
            raise GitHubError(f"a link outside the API ({self.base_url}): {url}")
        return url[len(self.base_url) :]

    def get(self, path: str, etag: str | None = None) -> Answer:
        """A JSON request to the API (``path`` below the base URL); a 304 comes back as is."""
        url = self.base_url + path
        resp = self._open(url, self._api_headers(etag))
        with resp:
            status, headers, body = resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
        if status != 304:
            self._check(url, status, headers, body)
        return Answer(status, headers, body)

    def download(self, path: str) -> IO[bytes]:
        """The bytes behind ``path`` (a logs endpoint), in a temporary file at its start.

        The API answers 302 to the archive's own short-lived link: that request, and any
        redirect after it, carries no Authorization header.
        """
        url, headers = self.base_url + path, self._api_headers()
        for _ in range(MAX_REDIRECTS + 1):
            resp = self._open(url, headers)
            with resp:
                status = resp.status
                answer_headers = {k.lower(): v for k, v in resp.headers.items()}
                if status in (301, 302, 303, 307, 308) and "location" in answer_headers:
                    url = urljoin(url, answer_headers["location"])
                    headers = {"Accept": "*/*"}  # the token stays with the API
                    continue
                if status != 200:
                    self._check(url, status, answer_headers, resp.read())
                    raise GitHubError(f"GitHub answered {status} from {url}")
                spool = tempfile.TemporaryFile()
                try:
                    shutil.copyfileobj(resp, spool, 1024 * 1024)
                except OSError as exc:
                    spool.close()
                    raise RetryableError(f"download from {url} broke off: {exc}") from exc
                spool.seek(0)
                return spool
        raise GitHubError(f"more than {MAX_REDIRECTS} redirects from {self.base_url + path}")
