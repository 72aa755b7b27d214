"""A TCP proxy on 127.0.0.1 that a test can cut and restore, to take a service away mid-run.

``cut()`` drops every open connection (both sides see the socket close) and stops
listening, so new connections are refused as if the server were down; ``restore()``
listens again on the same port. ``cut_at(marker)`` cuts in the middle of a message: the
first time a client sends ``marker``, the bytes before it reach the server and nothing
after. One thread accepts, two threads per connection copy bytes.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to ``(host, port)`` until cut."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.cuts = 0
        self.connections = 0  # accepted since the start, to show that clients came back
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._marker: bytes | None = None
        self.restore()

    # -- control -------------------------------------------------------------------------
    def restore(self) -> None:
        """Listen (again) on the same port; does nothing while already listening."""
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            listener.settimeout(0.05)  # lets the accept loop notice that it was cut
            self.port = listener.getsockname()[1]
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name=f"proxy-{self.port}").start()

    def cut(self) -> None:
        """Refuse new connections and close every open one, at once."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._open = self._open, set()
            self.cuts += 1
        if listener is not None:
            listener.close()
        for s in sockets:
            _close(s)

    def cut_at(self, marker: bytes) -> None:
        """Cut the first time a client sends ``marker``, after forwarding what precedes it."""
        self._marker = marker

    def close(self) -> None:
        self.cut()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def is_cut(self) -> bool:
        return self._listener is None

    # -- forwarding ----------------------------------------------------------------------
    def _accept(self, listener: socket.socket) -> None:
        while True:
            with self._lock:
                if self._listener is not listener:
                    return
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by cut()
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
                # Without this, Nagle's algorithm holds back the small writes of a
                # request-response protocol and every round trip waits for an ACK.
                for sock in (client, upstream):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                _close(client)
                continue
            with self._lock:
                if self._listener is not listener:  # cut while we were connecting
                    _close(client)
                    _close(upstream)
                    return
                self._open |= {client, upstream}
                self.connections += 1
            for src, dst, outbound in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pipe, args=(src, dst, outbound), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, outbound: bool) -> None:
        pending = b""  # the end of the last read, in case the marker spans two reads
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                marker = self._marker if outbound else None
                if marker is not None:
                    at = (pending + data).find(marker) - len(pending)
                    if at >= -len(pending):
                        self._marker = None
                        dst.sendall(data[: max(at, 0)])
                        self.cut()
                        break
                    pending = data[-len(marker) :]
                dst.sendall(data)
        except OSError:
            pass  # the other side went away, or cut() closed the socket under us
        finally:
            with self._lock:
                self._open.discard(src)
                self._open.discard(dst)
            _close(src)
            _close(dst)


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in recv() on it
    except OSError:
        pass
    s.close()


def closed_port() -> socket.socket:
    """A socket bound to a 127.0.0.1 port without listening: connections to it are refused,
    and no one else can take the port while the socket is open. Close it when done."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    return s
