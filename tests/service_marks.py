"""Which tests need a service (PostgreSQL, RabbitMQ, moto's server), decided once and enforced.

``make test-fast`` runs ``-m "not services"``, so the mark must be right both ways:

- A test that uses a service fixture (``SERVICE_FIXTURES``, directly or through another
  fixture) is marked ``services`` at collection: nobody has to remember to.
- A test that reaches a service some other way (a ``logpipe run`` it starts, which embeds
  PostgreSQL and moto) says so with ``@pytest.mark.services``; it must then open at least
  one connection, or it fails for being marked without need (``make test-fast`` would
  skip it for nothing).
- Every other test runs with outbound connections refused: one that tries to reach a
  service fails, naming the address, instead of passing or hanging in a run that has none.

The mark is derived from the fixtures rather than checked against them because the
fixtures are where a test gets its database, queues and bucket: deriving it leaves one
place to say what a service is. The connection guard catches what fixtures cannot show.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

# Fixtures that start or reach a service; any fixture built on them is covered too,
# as pytest lists a test's fixtures with their dependencies.
SERVICE_FIXTURES = frozenset({"moto_endpoint", "make_settings", "rabbit_vhost"})

SERVICES = "services"


def uses_service_fixture(item: pytest.Item) -> bool:
    return bool(SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())))


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by mark
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if uses_service_fixture(item) and item.get_closest_marker(SERVICES) is None:
            item.add_marker(SERVICES)


class _Connections:
    """Outbound connections made during one test: refused, or only counted."""

    def __init__(self, refuse: bool) -> None:
        self.refuse = refuse
        self.addresses: list[Any] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

        def connect(sock: socket.socket, address: Any) -> None:
            self._note(sock, address)
            real_connect(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> int:
            self._note(sock, address)
            return real_connect_ex(sock, address)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)

    def _note(self, sock: socket.socket, address: Any) -> None:
        if sock.family not in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX):
            return
        self.addresses.append(address)
        if self.refuse:
            # Not an OSError: a client library must not take it for a service that is down
            # and retry; the test fails in teardown anyway, whatever the code did with it.
            raise ServiceNotMarkedError(f"connection to {address!r} from a test not marked '{SERVICES}'")


class ServiceNotMarkedError(Exception):
    pass


@pytest.fixture(autouse=True)
def _service_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    item = request.node
    marked = item.get_closest_marker(SERVICES) is not None
    connections = _Connections(refuse=not marked)
    with pytest.MonkeyPatch.context() as patch:
        connections.install(patch)
        yield
    if not marked and connections.addresses:
        pytest.fail(
            f"{item.nodeid} opened connections to {connections.addresses[:3]} but is not marked "
            f"'{SERVICES}': give it a service fixture or @pytest.mark.{SERVICES}",
            pytrace=False,
        )
    if marked and not uses_service_fixture(item) and not connections.addresses:
        pytest.fail(
            f"{item.nodeid} is marked '{SERVICES}' but reached no service: remove the mark, "
            "so that `make test-fast` runs it",
            pytrace=False,
        )
