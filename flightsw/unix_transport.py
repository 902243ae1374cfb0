"""The plant bus of a local sim stack over a Unix ``SOCK_SEQPACKET`` socket.

Why not ZeroMQ, as every other stream? In lockstep the bus is crossed twice every
simulated second, and each ZeroMQ hop is four thread wake-ups (the sender's I/O thread,
the receiver's I/O thread, then the receiving thread itself) on two cores shared with
the payload's inference and the ground. Measured with ``/proc/*/schedstat`` over a
2-orbit ``suncatcher-proto`` run, the two processes' I/O threads sat 4.4 s waiting for a
core, most of it on the lockstep's critical path. A seqpacket socket is one kernel hop:
the sender's ``send`` wakes the receiving thread directly, and message boundaries come
with it (no framing of our own).

Endpoints are ``unix://@NAME`` (Linux's abstract namespace: no file left behind) or
``unix:///PATH``. The plant binds and listens (:class:`UnixBusServer`); the executive
connects (:class:`UnixBusClient`). Both are :class:`flightsw.transport.Transport`\\ s,
so nothing above the seam changes, and they keep ZeroMQ's manners: a send never blocks
(refused: ``False``), nothing raises for I/O trouble, and a client that comes before the
server, or after a restart of either, connects again by itself. One executive at a time:
a new connection replaces the old one (a restarted executive says HELLO on it and the
plant sends its pending TICK again, as over ZeroMQ).

A frame larger than the codec accepts is cut short by the kernel and dropped here,
counted in :attr:`oversized`, as ZeroMQ's ``MAXMSGSIZE`` drops it on the other streams.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
from collections.abc import Callable

from flightsw.transport import MAX_FRAMES_PER_RECEIVE, MAX_SEAL_BYTES, Transport, ZmqTransport
from flightsw.wire import MAX_FRAME_BYTES

SCHEME = "unix://"
MAX_BUS_FRAME_BYTES = MAX_FRAME_BYTES + MAX_SEAL_BYTES
_RECV_BYTES = MAX_BUS_FRAME_BYTES + 1  # one byte more: a longer frame shows as cut
_BUFFER_BYTES = 4 << 20
"""Socket buffers: a ZeroMQ PAIR queued 1000 frames before refusing; the bus carries
one TICK and one answer at a time, but a free-running plant sends SENSORS ahead."""


class EndpointError(ValueError):
    """A ``unix://`` endpoint that names no socket."""


def is_unix_endpoint(endpoint: str) -> bool:
    return endpoint.startswith(SCHEME)


def socket_address(endpoint: str) -> str:
    """``unix://@name`` -> ``"\\0name"`` (abstract); ``unix:///path`` -> ``"/path"``."""
    if not is_unix_endpoint(endpoint):
        raise EndpointError(f"not a unix:// endpoint: {endpoint!r}")
    rest = endpoint[len(SCHEME):]
    if rest.startswith("@") and len(rest) > 1:
        return "\0" + rest[1:]
    if rest.startswith("/") and len(rest) > 1:
        return rest
    raise EndpointError(f"{endpoint!r}: expected unix://@NAME or unix:///PATH")


def _new_socket() -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.setblocking(False)
    for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, opt, _BUFFER_BYTES)
        except OSError:
            pass  # the kernel's cap applies; smaller buffers only refuse sooner
    return sock


class _Connection:
    """What both ends share: one connected seqpacket socket, never raising."""

    def __init__(self) -> None:
        self.conn: socket.socket | None = None
        self.errors = 0
        self.last_error = ""
        self.oversized = 0
        self._closed = False

    @property
    def connected(self) -> bool:
        return self.conn is not None

    @property
    def descriptor(self) -> int | None:
        """The connection's descriptor, for a :class:`flightsw.transport.Waiter`."""
        self._ensure()
        return None if self.conn is None else self.conn.fileno()

    def _ensure(self) -> None:
        """Connect or accept if there is no connection (the ends differ here)."""

    def send(self, frame: bytes) -> bool:
        self._ensure()
        if self.conn is None:
            return False
        try:
            self.conn.send(frame)
        except BlockingIOError:
            return False  # the peer is not reading: refused, the caller keeps it
        except OSError as exc:
            self._lost(exc)
            return False
        return True

    def receive(self, max_frames: int = MAX_FRAMES_PER_RECEIVE) -> list[bytes]:
        self._ensure()
        out: list[bytes] = []
        while self.conn is not None and len(out) < max_frames:
            try:
                data, _anc, flags, _addr = self.conn.recvmsg(_RECV_BYTES)
            except BlockingIOError:
                break
            except OSError as exc:
                self._lost(exc)
                break
            if not data and not flags & socket.MSG_TRUNC:
                self._lost(None)  # the peer closed (an executive killed, a plant gone)
                break
            if flags & socket.MSG_TRUNC or len(data) > MAX_BUS_FRAME_BYTES:
                self.oversized += 1
                continue
            out.append(data)
        return out

    def _lost(self, exc: OSError | None) -> None:
        if exc is not None:
            self.errors += 1
            self.last_error = str(exc)
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def close(self) -> None:
        self._closed = True
        self._lost(None)


class UnixBusClient(_Connection):
    """The connecting end (the executive; the payload child): connects, and connects
    again after the other end went away."""

    def __init__(self, endpoint: str) -> None:
        super().__init__()
        self.address = socket_address(endpoint)
        self.endpoint = endpoint
        self._ensure()

    def _ensure(self) -> None:
        if self.conn is not None or self._closed:
            return
        sock = _new_socket()
        try:
            sock.connect(self.address)
        except OSError as exc:
            sock.close()
            if exc.errno not in (errno.ECONNREFUSED, errno.ENOENT, errno.EAGAIN):
                self.errors += 1
                self.last_error = str(exc)
            return  # no plant yet: the next send, receive or wait tries again
        self.conn = sock

    def wait(self, timeout_s: float) -> bool:
        self._ensure()
        sock = self.conn
        if sock is None:  # no plant yet: look again soon, connect if it came
            select.select([], [], [], max(0.0, min(timeout_s, 0.05)))
            self._ensure()
            return False
        try:
            ready, _w, _x = select.select([sock], [], [], max(0.0, timeout_s))
        except (OSError, ValueError) as exc:
            self._lost(exc if isinstance(exc, OSError) else None)
            return False
        return bool(ready)


def _credentials(conn: socket.socket) -> tuple[int, int] | None:
    """The connecting process's pid and uid (``SO_PEERCRED``), None if unknown."""
    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                struct.calcsize("3i"))
    except OSError:
        return None
    pid, uid, _gid = struct.unpack("3i", creds)
    return pid, uid


def _same_user(uid: int) -> bool:
    """A process of that uid runs as our user (root may connect)."""
    return uid in (os.getuid(), 0)


def descends_from(pid: int, ancestor: int, max_depth: int = 8) -> bool:
    """``pid`` is ``ancestor`` or a process it started (through a wrapper such as
    ``nice`` or a shell), read from ``/proc``; False when that cannot be told."""
    for _ in range(max_depth):
        if pid == ancestor:
            return True
        if pid <= 1:
            return False
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            return False
        pid = int(stat.rsplit(b")", 1)[1].split()[1])  # the parent's pid
    return False


class UnixBusServer(_Connection):
    """The binding end (the plant; the executive for its payload child): listens; the
    newest connection is the peer."""

    def __init__(self, endpoint: str) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.address = socket_address(endpoint)
        self.accepted = 0
        self.refused = 0
        """Connections closed at once: from another user's process (an abstract socket
        is open to every local user, and the newest connection takes over the bus), or
        from one :attr:`admit` does not admit."""
        self.admit: Callable[[int], bool] | None = None
        """Which of our user's processes may be the peer, by pid (None: any). The
        payload channel admits only the child the executive started: another process of
        ours that found the name could otherwise cut the child off."""
        self.listener = _new_socket()
        try:
            if not self.address.startswith("\0") and os.path.exists(self.address):
                os.unlink(self.address)  # a stale socket file from a killed plant
            self.listener.bind(self.address)
            self.listener.listen(4)
        except OSError:
            self.listener.close()
            raise

    def _ensure(self) -> None:
        """Without a peer, take one that is waiting. (A newcomer while there is one is
        taken by :meth:`wait`, which watches the listener: an ``accept`` that finds
        nothing costs a system call and an exception, ~7 % of the plant's time when
        every send and receive tried one.)"""
        if self.conn is None:
            self._accept()

    def _accept(self) -> None:
        """Take every connection waiting: the newest is the peer (a restarted executive
        replaces the old one)."""
        while not self._closed:
            try:
                conn, _addr = self.listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                self.errors += 1
                self.last_error = str(exc)
                return
            peer = _credentials(conn)  # one look: who connected, as whom
            if peer is None or not _same_user(peer[1]) or (
                    self.admit is not None and not self.admit(peer[0])):
                conn.close()  # it may not take over the bus
                self.refused += 1
                continue
            conn.setblocking(False)
            if self.conn is not None:
                self.conn.close()
            self.conn = conn
            self.accepted += 1

    @property
    def descriptor(self) -> int | None:
        """The connection's descriptor, or the listener's before there is one: a
        :class:`flightsw.transport.Waiter` then wakes when the peer connects."""
        self._ensure()
        return self.listener.fileno() if self.conn is None else self.conn.fileno()

    def wait(self, timeout_s: float) -> bool:
        """A frame is ready, or a peer connected (its HELLO follows)."""
        self._ensure()
        socks = [self.listener] + ([self.conn] if self.conn is not None else [])
        try:
            ready, _w, _x = select.select(socks, [], [], max(0.0, timeout_s))
        except (OSError, ValueError):
            return False
        if self.listener in ready:
            self._accept()
        return bool(ready)

    def close(self) -> None:
        super().close()
        self.listener.close()
        if not self.address.startswith("\0"):
            try:
                os.unlink(self.address)
            except OSError:
                pass


def plant_bus(endpoint: str) -> Transport:
    """The executive's end of the plant bus: a Unix seqpacket socket for ``unix://``
    (a local stack), else a ZeroMQ PAIR (a plant across TCP, a board in the loop)."""
    if is_unix_endpoint(endpoint):
        return UnixBusClient(endpoint)
    return ZmqTransport.pair(endpoint, bind=False)
