"""A TCP proxy on 127.0.0.1 that a test can cut and restore, to take a service away mid-run.

``cut()`` drops every open connection (both sides see the socket close) and stops
listening, so new connections are refused as if the server were down; ``restore()``
listens again on the same port. ``cut_at(marker)`` cuts in the middle of a message: the
first time a client sends ``marker``, the bytes before it reach the server and nothing
after; ``when_sent(marker, action)`` runs ``action`` at that moment and forwards all.
One thread accepts, two threads per connection copy bytes.

The port stays the proxy's while it is cut: a socket stays bound to it without listening
(connections are refused), so that no client's outgoing connection can take it as its
local port before ``restore()`` listens on it again.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
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
        self._held = self._bind()  # bound, not listening: the port is kept, connections refused
        self.port = self._held.getsockname()[1]
        self._marker: bytes | None = None
        self._action: Callable[[], None] | None = None  # None: cut at the marker
        self._count: tuple[bytes, int, Callable[[socket.socket], None]] | None = None
        self.restore()

    # -- control -------------------------------------------------------------------------
    def _bind(self) -> socket.socket:
        # SO_REUSEPORT lets the next socket bind the port while the listener still holds it.
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(("127.0.0.1", self.port))
        return s

    def restore(self) -> None:
        """Listen (again) on the same port; does nothing while already listening."""
        with self._lock:
            if self._listener is not None or self._held is None:
                return
            listener, self._held = self._held, None
            listener.listen(64)
            listener.settimeout(0.05)  # lets the accept loop notice that it was cut
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name=f"proxy-{self.port}").start()

    def cut(self) -> None:
        """Refuse new connections and close every open one, at once."""
        with self._lock:
            listener, self._listener = self._listener, None
            if listener is not None:
                self._held = self._bind()  # before the listener goes, so the port is never free
            sockets, self._open = self._open, set()
            self.cuts += 1
        if listener is not None:
            # Out of the port's SO_REUSEPORT group now: a plain close waits for the accept
            # thread's poll to let go of the socket, and meanwhile the kernel hands it half
            # of the connections made after restore(), which it then resets.
            _close(listener)
        for s in sockets:
            _close(s)

    def cut_at(self, marker: bytes) -> None:
        """Cut the first time a client sends ``marker``, after forwarding what precedes it."""
        self._marker, self._action = marker, None

    def when_sent(self, marker: bytes, action: Callable[[], None]) -> None:
        """Run ``action`` the first time a client sends ``marker``, before forwarding it; the
        connection goes on. A hook on the client's own traffic, so a test acts at a point
        of the work it chose, not when a poll happens to look."""
        self._marker, self._action = marker, action

    def after_count(self, pattern: bytes, n: int, action: Callable[[socket.socket], None]) -> None:
        """Run ``action(client)`` once, when the clients (all of them together) have sent
        ``pattern`` ``n`` more times; ``client`` is the socket whose bytes reached ``n``."""
        with self._lock:
            self._count = (pattern, n, action)

    def _counted(self, tail: bytes, data: bytes) -> Callable[[socket.socket], None] | None:
        """Counts ``pattern`` in ``data`` (``tail``: the end of the connection's last read,
        for an occurrence across two reads); the action when the count is reached."""
        with self._lock:
            if self._count is None:
                return None
            pattern, left, action = self._count
            left -= (tail + data).count(pattern) - tail.count(pattern)
            if left > 0:
                self._count = (pattern, left, action)
                return None
            self._count = None
            return action

    def close(self) -> None:
        self.cut()
        with self._lock:
            held, self._held = self._held, None
        if held is not None:
            held.close()

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
        tail = b""  # the same for the counted pattern
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if outbound and self._count is not None:
                    counting = self._count[0]
                    act = self._counted(tail, data)
                    tail = data[-(len(counting) - 1) :] if len(counting) > 1 else b""
                    if act is not None:
                        act(src)
                marker = self._marker if outbound else None
                if marker is not None:
                    at = (pending + data).find(marker) - len(pending)
                    if at >= -len(pending):
                        action, self._marker = self._action, None
                        if action is not None:
                            action()
                        else:
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
