"""A Pushgateway and a Prometheus of a test's own: Debian's binaries (``make test`` installs
them), on free ports, with their data in a temporary folder, stopped at the end. Never
the system's services."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PROMETHEUS = shutil.which("prometheus")
PUSHGATEWAY = shutil.which("prometheus-pushgateway")
PROMTOOL = shutil.which("promtool")
MISSING = "make test installs Debian's prometheus and prometheus-pushgateway (apt-get)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, timeout_s: float = 10) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as answer:
        return json.load(answer)


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path, timeout_s: float = 60) -> None:
    """Until ``url`` answers 200; fails at the deadline, or at once if the process died."""
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{url} did not answer within {timeout_s} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)  # a poll of a server starting up, bounded by the deadline above


@contextmanager
def _serving(args: list[str], ready: str, log: Path) -> Iterator[None]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_ready(proc, ready, log)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def pushgateway(folder: Path) -> Iterator[str]:
    """A Pushgateway on a free port, persisting under ``folder``: its URL. (Debian's build
    persists to a file under /var/lib by default: never that one.)"""
    assert PUSHGATEWAY is not None, MISSING
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}", f"--persistence.file={folder / 'pushgateway.data'}"]
    with _serving(args, f"{url}/-/ready", folder / "pushgateway.log"):
        yield url


@contextmanager
def prometheus(folder: Path, config: str) -> Iterator[str]:
    """A Prometheus on a free port with ``config`` (YAML text), its data under ``folder``."""
    assert PROMETHEUS is not None, MISSING
    port = free_port()
    (folder / "prometheus.yml").write_text(config)
    args = [
        PROMETHEUS,
        f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    url = f"http://127.0.0.1:{port}"
    with _serving(args, f"{url}/-/ready", folder / "prometheus.log"):
        yield url


def scrape_config(job: str, target: str, interval: str = "1s", honor_labels: bool = True) -> str:
    return (
        f"global:\n  scrape_interval: {interval}\n  evaluation_interval: {interval}\n"
        f"scrape_configs:\n  - job_name: {job}\n    honor_labels: {str(honor_labels).lower()}\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )


def query(url: str, expr: str) -> list[dict[str, Any]]:
    """The result of an instant query; fails on any error Prometheus reports."""
    answer = get(f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert answer["status"] == "success", answer
    return answer["data"]["result"]  # type: ignore[no-any-return]


def scalar(url: str, expr: str) -> float | None:
    """The single value of ``expr`` now, None when it has none."""
    result = query(url, expr)
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else None


def wait_for(url: str, expr: str, at_least: float, timeout_s: float = 60) -> None:
    """Until ``expr`` is at least ``at_least`` in Prometheus (it has scraped what was pushed)."""
    deadline = time.monotonic() + timeout_s
    while (value := scalar(url, expr)) is None or value < at_least:
        assert time.monotonic() < deadline, f"{expr} was {value}, not yet {at_least}, after {timeout_s} s"
        time.sleep(0.2)  # Prometheus scrapes every second here; this waits for the next one
