"""The `services` mark is right both ways: `make test-fast` (``-m "not services"``) runs
exactly the tests that need no PostgreSQL, RabbitMQ or moto (see service_marks.py).

The plugin runs here on a small suite of its own, in a pytest of its own, so that the
outcomes it forces (a failure, a deselection) can be read back.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tcp_proxy import closed_port

HERE = Path(__file__).resolve().parent

SUITE = """
import socket

import pytest


@pytest.fixture
def moto_endpoint():  # the name is what marks a test: this one starts nothing
    return "http://127.0.0.1:1"


def test_uses_a_service_fixture(moto_endpoint):
    pass


def test_reaches_a_service_unmarked():
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", PORT))
    except Exception:
        pass  # swallowed, as a client library might: the test fails all the same
    finally:
        s.close()


@pytest.mark.services
def test_marked_but_reaches_nothing():
    pass


@pytest.mark.services
def test_marked_and_reaches_a_service():
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", PORT))
    except ConnectionRefusedError:
        pass  # a connection was tried: that is what a service test does
    finally:
        s.close()


def test_needs_nothing():
    pass
"""


def outcomes(tmp_path: Path, marks: str) -> dict[str, str]:
    """Run the suite with ``-m marks``; each test that ran, with ``passed``, ``failed`` or ``error``."""
    report = tmp_path / f"report-{marks.replace(' ', '-')}.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "service_marks", "-m", marks,
         f"--junitxml={report}", "test_suite.py"],
        cwd=tmp_path, env={"PYTHONPATH": str(HERE), "PATH": ""}, capture_output=True, check=False,
    )  # fmt: skip
    result = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        result[case.attrib["name"]] = kinds[0] if kinds else "passed"
    return result


def test_fast_runs_what_needs_no_service_and_fails_what_reaches_one_unmarked(tmp_path: Path) -> None:
    refused = closed_port()
    try:
        (tmp_path / "test_suite.py").write_text(SUITE.replace("PORT", str(refused.getsockname()[1])))
        assert outcomes(tmp_path, "not services") == {
            "test_reaches_a_service_unmarked": "error",
            "test_needs_nothing": "passed",
        }
        assert outcomes(tmp_path, "services") == {
            "test_uses_a_service_fixture": "passed",
            "test_marked_but_reaches_nothing": "error",
            "test_marked_and_reaches_a_service": "passed",
        }
    finally:
        refused.close()
