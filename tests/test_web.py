"""The web app: how the runner serves it, and its browser tests (frontend/e2e/run.mjs) in
headless Chromium against a real `logpipe run` on embedded defaults."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from logpipe_local.web import WebApp, csp

from test_local_runner import Running

ROOT = Path(__file__).resolve().parents[1]
FRONTEND = ROOT / "frontend"
CHROMIUM = "/usr/bin/chromium"


def _call(app: WebApp, path: str, method: str = "GET") -> tuple[str, dict[str, str], bytes]:
    got: dict[str, object] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        got["status"], got["headers"] = status, dict(headers)

    body = b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": method}, start_response))
    return str(got["status"]), got["headers"], body  # type: ignore[return-value]


def test_the_runner_serves_the_built_app_with_its_policy(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>logpipe</title>")
    (tmp_path / "assets" / "index-abc.js").write_text("console.log(1)")
    (tmp_path.parent / "secret.txt").write_text("no")
    app = WebApp(tmp_path, "http://127.0.0.1:9999/")

    status, headers, body = _call(app, "/")
    assert status == "200 OK" and body.startswith(b"<!doctype html>")
    assert "connect-src 'self' http://127.0.0.1:9999;" in headers["Content-Security-Policy"]
    assert "script-src 'self';" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-cache"
    status, headers, _ = _call(app, "/assets/index-abc.js")
    assert status == "200 OK" and headers["Content-Type"].startswith(("text/javascript", "application/javascript"))
    assert "immutable" in headers["Cache-Control"]
    assert _call(app, "/files")[2].startswith(b"<!doctype html>")  # a page's path is the app
    assert _call(app, "/../secret.txt")[0] == "404 Not Found"  # never a file outside the build
    assert _call(app, "/assets/missing.js")[0] == "404 Not Found"
    assert _call(app, "/", "POST")[0] == "405 Method Not Allowed"
    assert "https://*.amazonaws.com" in csp("")  # on AWS the bucket is a regional S3 host

    unbuilt = WebApp(tmp_path / "nothing", "")
    status, _, body = _call(unbuilt, "/")
    assert status == "404 Not Found" and b"make run" in body


def _why_no_browser() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed (Node.js 20 runs the browser tests)"
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing: `make chromium` installs Debian's package"
    if not (FRONTEND / "node_modules" / "playwright-core").is_dir():
        return "frontend/node_modules is missing: `make web` runs npm ci"
    if not (FRONTEND / "dist" / "index.html").is_file():
        return "the web app is not built: `make web` builds it"
    return None


@pytest.mark.browser
@pytest.mark.services  # `logpipe run` starts its embedded PostgreSQL and moto
def test_the_web_app_in_headless_chromium(tmp_path: Path) -> None:
    """Uploads (plain, gzip, multipart, failing) through the page to done with the right counts, the
    live tail across a pause, search and its context, the token link and prompt, the API
    down; screenshots of each page in frontend/test-output/."""
    why = _why_no_browser()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    # Multipart from 5 MiB (S3's least part size), so that a test file of a few MiB goes in parts.
    parts = {"LOGPIPE_MULTIPART_THRESHOLD": str(5 * 2**20), "LOGPIPE_MULTIPART_PART_BYTES": str(5 * 2**20)}
    run = Running(tmp_path / "data", parts)
    try:
        assert "web app: " + run.url + "/#token=" in run.text
        page = requests.get(run.url + "/", timeout=10)
        assert page.status_code == 200 and '<div id="root">' in page.text
        assert run.s3_endpoint in page.headers["Content-Security-Policy"]
        secret = re.search(r"GitHub webhook: \S+\s+secret: (\S+)", run.text)
        assert secret, run.text
        env = {
            **os.environ,
            "LOGPIPE_URL": run.url,
            "LOGPIPE_TOKEN": run.token,
            "LOGPIPE_GITHUB_SECRET": secret.group(1),
        }
        done = subprocess.run(
            ["node", "e2e/run.mjs"], cwd=FRONTEND, env=env, capture_output=True, text=True, timeout=900
        )
    finally:
        run.stop()
    out = done.stdout + done.stderr
    print(out)
    assert done.returncode == 0, out
    summary = re.search(r"^(\d+) passed, (\d+) failed$", done.stdout, re.M)
    assert summary and int(summary.group(1)) >= 19 and summary.group(2) == "0", out
