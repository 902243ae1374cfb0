"""The transport seam: how frames move between the executive and the world.

Every stream the executive has (plant bus, space link, payload IPC) is a
:class:`Transport`: frames (whole encoded envelopes) go out with :meth:`send`, frames
that have arrived come in with :meth:`receive`, and :attr:`connected` says whether the
far end is there. Nothing above this seam knows whether bytes travel over ZeroMQ, an
in-process queue (tests, the harness) or, later, a UART with COBS framing.

httpx's MockTransport is the model: the in-memory pair below is the whole test seam.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

import zmq

from flightsw.wire import MAX_FRAME_BYTES

MAX_FRAMES_PER_RECEIVE = 1024
MAX_SEAL_BYTES = 64
"""Room for an authentication header and tag around an encoded envelope."""
"""At most this many frames per :meth:`Transport.receive`, so a flood on one stream
cannot starve the rest of the cycle; the rest wait for the next call."""


_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)
"""Plain ints: ``int & zmq.POLLIN`` goes through the enum machinery (~2 us a look)."""


class Transport(Protocol):
    """A bidirectional frame pipe. Never raises for I/O trouble: it reports it."""

    @property
    def connected(self) -> bool:
        """The far end was reachable the last time we tried."""
        ...

    def send(self, frame: bytes) -> bool:
        """Queue one frame; ``False`` if it was not accepted (no peer, queue full)."""
        ...

    def receive(self, max_frames: int = MAX_FRAMES_PER_RECEIVE) -> list[bytes]:
        """Frames that have arrived, oldest first, without blocking."""
        ...

    def wait(self, timeout_s: float) -> bool:
        """Block up to ``timeout_s`` for a frame to arrive; ``True`` if one is ready."""
        ...

    def close(self) -> None: ...


class MemoryTransport:
    """One end of an in-process pipe; make both ends with :func:`memory_pair`.

    ``wait`` never blocks: in a single-threaded test nothing can arrive while we wait,
    so blocking would only slow the test down.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self.inbox: deque[bytes] = deque()
        self.peer: MemoryTransport | None = None
        self.capacity = capacity
        self.sent: list[bytes] = []  # every frame accepted by send(), for assertions
        self.refused = 0
        self.closed = False
        self.keep_sent = True

    @property
    def connected(self) -> bool:
        return self.peer is not None and not self.peer.closed and not self.closed

    def send(self, frame: bytes) -> bool:
        peer = self.peer
        if peer is None or peer.closed or self.closed or len(peer.inbox) >= peer.capacity:
            self.refused += 1
            return False
        peer.inbox.append(bytes(frame))
        if self.keep_sent:
            self.sent.append(bytes(frame))
        return True

    def receive(self, max_frames: int = MAX_FRAMES_PER_RECEIVE) -> list[bytes]:
        out: list[bytes] = []
        while self.inbox and len(out) < max_frames:
            out.append(self.inbox.popleft())
        return out

    def wait(self, timeout_s: float) -> bool:
        return bool(self.inbox)

    def close(self) -> None:
        self.closed = True


def memory_pair(capacity: int = 100_000) -> tuple[MemoryTransport, MemoryTransport]:
    """Two connected in-memory ends: what one sends, the other receives."""
    a, b = MemoryTransport(capacity), MemoryTransport(capacity)
    a.peer, b.peer = b, a
    return a, b


class ZmqTransport:
    """A ZeroMQ PAIR socket as a transport (TCP on loopback in the sim stack).

    Sends never block: a PAIR with no peer, or a full high-water mark, refuses the frame
    (``zmq.Again``) and the caller keeps it. Socket errors are counted, never raised.
    """

    def __init__(self, sock: zmq.Socket[Any]) -> None:
        self.sock = sock
        self._poller = zmq.Poller()  # one for the socket's life: Socket.poll makes one a call
        self._poller.register(sock, zmq.POLLIN)
        self._connected = True
        self.errors = 0
        self.last_error = ""

    @classmethod
    def pair(cls, endpoint: str, *, bind: bool, ctx: zmq.Context[Any] | None = None,
             sndhwm: int = 10_000, rcvhwm: int = 1000) -> ZmqTransport:
        """``rcvhwm`` bounds what ZeroMQ queues for us (frames), and no frame larger than
        the codec accepts is taken into memory at all (``MAXMSGSIZE``; the peer that
        sends one is disconnected): a flood costs at most ``rcvhwm`` frames."""
        sock = (ctx or zmq.Context.instance()).socket(zmq.PAIR)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, sndhwm)
        sock.setsockopt(zmq.RCVHWM, rcvhwm)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES + MAX_SEAL_BYTES)
        if bind:
            sock.bind(endpoint)
        else:
            sock.connect(endpoint)
        return cls(sock)

    @property
    def connected(self) -> bool:
        return self._connected

    def send(self, frame: bytes) -> bool:
        try:
            self.sock.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            self._connected = False
            return False
        except zmq.ZMQError as exc:
            self._error(exc)
            return False
        self._connected = True
        return True

    def receive(self, max_frames: int = MAX_FRAMES_PER_RECEIVE) -> list[bytes]:
        out: list[bytes] = []
        try:
            # zmq.EVENTS is far cheaper than a recv that raises zmq.Again, which matters
            # in lockstep, where the 10 Hz group looks at every stream ten times per
            # simulated second
            while len(out) < max_frames and int(self.sock.getsockopt(_EVENTS)) & _POLLIN:
                out.append(self.sock.recv(zmq.NOBLOCK))
        except zmq.Again:
            pass
        except zmq.ZMQError as exc:
            self._error(exc)
        return out

    def wait(self, timeout_s: float) -> bool:
        try:
            if self.sock.closed:  # the kept poller would not say so itself
                raise zmq.ZMQError(zmq.ENOTSOCK)
            return bool(self._poller.poll(max(0, int(timeout_s * 1000))))
        except zmq.ZMQError as exc:
            self._error(exc)
            return False

    def close(self) -> None:
        self.sock.close(linger=0)

    def _error(self, exc: zmq.ZMQError) -> None:
        self.errors += 1
        self.last_error = str(exc)


class Waiter:
    """Blocks until any of a set of transports has a frame ready.

    ZeroMQ sockets and the descriptors of other transports that have one (a UART's port,
    :meth:`flightsw.serial_transport.SerialTransport.descriptor`) are polled together
    with one poller, rebuilt only when the set changes (a new payload incarnation, a
    reopened port), not on every turn of a loop. A transport that already holds a frame
    (an in-memory one, a UART whose framer has frames or whose port has bytes waiting)
    answers at once; one with neither a socket nor a descriptor is asked to wait itself.
    """

    def __init__(self) -> None:
        self._key: tuple[Any, ...] = ()
        self._poller = zmq.Poller()

    def wait(self, transports: Sequence[Transport | None], timeout_s: float) -> bool:
        live = [t for t in transports if t is not None]
        pollable: list[Any] = []
        others: list[Transport] = []
        for t in live:
            if isinstance(t, MemoryTransport):
                if t.inbox:
                    return True
            elif isinstance(t, ZmqTransport):
                pollable.append(t.sock)
            elif t.wait(0.0):  # frames or bytes already there
                return True
            else:
                fd = _descriptor_of(t)
                if fd is None:
                    others.append(t)
                else:
                    pollable.append(fd)
        if not pollable:
            # nothing to poll together: wait on the one transport that can wait itself
            return bool(others) and others[0].wait(timeout_s)
        key = tuple(pollable)
        if key != self._key:
            self._poller = zmq.Poller()
            for s in pollable:
                self._poller.register(s, zmq.POLLIN)
            self._key = key
        try:
            return bool(self._poller.poll(max(0, int(timeout_s * 1000))))
        except zmq.ZMQError:
            return False


def _descriptor_of(transport: Transport) -> int | None:
    """The file descriptor a transport's frames arrive on, when it says (``descriptor``)."""
    fd = getattr(transport, "descriptor", None)
    return fd if isinstance(fd, int) else None


def wait_any(transports: Sequence[Transport | None], timeout_s: float) -> bool:
    """One-off :meth:`Waiter.wait` (a loop should keep its own :class:`Waiter`)."""
    return Waiter().wait(transports, timeout_s)
