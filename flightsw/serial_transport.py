"""A UART under the transport seam: frames out and in over pyserial, framed by
:mod:`flightsw.framing`.

On a board the space link (or the host's end of it) is a serial line: the executive,
the host's bridge and the benches see a :class:`SerialTransport` exactly as they see a
ZeroMQ socket (:class:`flightsw.transport.Transport`). This is the imperative shell: the
framing, resynchronisation and discard accounting are the pure framer's; here are only
the port, two bounded buffers and the counters.

- Ports come from ``serial.serial_for_url`` (``/dev/ttyTHS1``, ``/dev/ttyUSB0``,
  ``loop://`` in tests, a pty's slave path on a virtual board), opened non-blocking
  (``timeout=0``, ``write_timeout=0``) at a configurable baud rate; anything with
  pyserial's ``read``/``write``/``in_waiting``/``close`` will do (a pty master, a fault
  injector).
- :meth:`send` never blocks: it queues the encoded frame (bounded by
  ``tx_buffer_bytes``) and writes what the port takes now; the rest goes out on later
  calls. A refused frame stays with the caller (the recorder keeps every record until
  the ground acknowledges it, so a full line delays, never loses).
- Port errors (a USB adapter pulled out, a cable cut) are counted and the port is
  reopened every ``reopen_interval_s`` with the factory it was opened with; never raised.
"""

from __future__ import annotations

import select
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import serial

from flightsw.errors import FlightError
from flightsw.framing import DELIMITER, Deframer, encode_frame, max_encoded_bytes
from flightsw.transport import MAX_FRAMES_PER_RECEIVE
from flightsw.wire import MAX_FRAME_BYTES

DEFAULT_BAUD = 115_200
BAUD_RATES = (9_600, 19_200, 38_400, 57_600, 115_200, 230_400, 460_800, 921_600,
              1_000_000, 1_500_000, 2_000_000, 3_000_000, 4_000_000)
"""Rates a Linux UART driver accepts (termios), the Jetson's and Pi's among them."""
READ_CHUNK_BYTES = 65_536
TX_BUFFER_BYTES = 1 << 21
"""Room for two of the largest frames (:data:`flightsw.wire.MAX_FRAME_BYTES`) queued."""
MAX_INBOX_FRAMES = 4 * MAX_FRAMES_PER_RECEIVE
REOPEN_INTERVAL_S = 1.0


class SerialPort(Protocol):
    """The part of pyserial's ``Serial`` a transport uses."""

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes) -> int | None: ...

    @property
    def in_waiting(self) -> int: ...

    def close(self) -> None: ...


def check_baud(baud: int) -> int:
    """The baud rate if a UART can run at it, else a ValueError that says which can."""
    if baud not in BAUD_RATES:
        raise ValueError(f"baud rate {baud} is not one a UART driver accepts; choose from "
                         f"{', '.join(str(b) for b in BAUD_RATES)}")
    return baud


def open_port(url: str, baud: int = DEFAULT_BAUD) -> SerialPort:
    """A non-blocking pyserial port for a device path or URL (``loop://``).

    pyserial's ``loop://`` refuses every write under a zero write timeout (it simulates
    the time the bytes take), so there writes may block instead: it is a test port whose
    4096-byte queue a test must not overfill between reads."""
    write_timeout = None if url.startswith("loop://") else 0
    port: SerialPort = serial.serial_for_url(url, baudrate=check_baud(baud), timeout=0,
                                             write_timeout=write_timeout)
    return port


class SerialTransport:
    """Frames over a serial port (see the module docstring)."""

    def __init__(self, port: SerialPort | None, *, reopen: Callable[[], SerialPort] | None = None,
                 max_frame_bytes: int = MAX_FRAME_BYTES, tx_buffer_bytes: int = TX_BUFFER_BYTES,
                 reopen_interval_s: float = REOPEN_INTERVAL_S,
                 monotonic_s: Callable[[], float] = time.monotonic) -> None:
        if port is None and reopen is None:
            raise ValueError("a serial transport needs a port or a way to open one")
        self.port = port
        self._reopen = reopen
        self.max_frame_bytes = max_frame_bytes
        self.tx_buffer_bytes = max(tx_buffer_bytes, max_encoded_bytes(max_frame_bytes) + 2)
        self.reopen_interval_s = reopen_interval_s
        self._now = monotonic_s
        self._tx = bytearray()
        self._inbox: deque[bytes] = deque()
        self.deframer = Deframer(max_frame_bytes)
        self.frames_sent = 0
        self.bytes_written = 0
        self.refused = 0
        self.refused_oversize = 0
        self.errors = 0
        self.reopens = 0
        self.last_error = ""
        self._closed = False
        self._down_since_s: float | None = None if port is not None else -float("inf")

    @classmethod
    def open(cls, url: str, baud: int = DEFAULT_BAUD, **kwargs: Any) -> SerialTransport:
        """Open ``url`` at ``baud``; a port that cannot be opened now is retried later
        (the error is in :attr:`last_error`), so a board boots with its cable unplugged."""
        check_baud(baud)

        def factory() -> SerialPort:
            return open_port(url, baud)

        t = cls(None, reopen=factory, **kwargs)
        t._ensure_port()
        return t

    # --- the Transport protocol ------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.port is not None and not self._closed

    def send(self, frame: bytes) -> bool:
        if self._closed:
            self.refused += 1
            return False
        if len(frame) > self.max_frame_bytes:
            self.refused_oversize += 1
            return False
        wire = encode_frame(frame)
        if not self._tx:
            wire = DELIMITER + wire  # a new batch: in step whatever the line did before
        if len(self._tx) + len(wire) > self.tx_buffer_bytes:
            self.refused += 1
            self.flush()
            return False
        self._tx += wire
        self.frames_sent += 1
        self.flush()
        return True

    def receive(self, max_frames: int = MAX_FRAMES_PER_RECEIVE) -> list[bytes]:
        self.flush()
        if len(self._inbox) < MAX_INBOX_FRAMES:
            self._read()
        out: list[bytes] = []
        while self._inbox and len(out) < max_frames:
            out.append(self._inbox.popleft())
        return out

    def wait(self, timeout_s: float) -> bool:
        if self._inbox:
            return True
        self.flush()
        port = self._ensure_port()
        if port is None:
            return False
        fd = _descriptor(port)
        try:
            if port.in_waiting:
                return True
            if fd is not None and timeout_s > 0:
                ready, _, _ = select.select([fd], [], [], timeout_s)
                return bool(ready)
            deadline = self._now() + timeout_s
            while self._now() < deadline:  # a port without a descriptor (loop://)
                time.sleep(min(0.001, timeout_s))
                if port.in_waiting:
                    return True
            return bool(port.in_waiting)
        except (OSError, serial.SerialException, ValueError) as exc:
            self._fail(exc)
            return False

    def close(self) -> None:
        self.flush()
        self._closed = True
        self._drop_port()

    # --- the shell -------------------------------------------------------------------------
    @property
    def descriptor(self) -> int | None:
        """The port's file descriptor, for a :class:`flightsw.transport.Waiter` to poll
        with other streams; None while the port is down or has none (``loop://``)."""
        return None if self.port is None or self._closed else _descriptor(self.port)

    @property
    def tx_pending_bytes(self) -> int:
        return len(self._tx)

    def flush(self) -> int:
        """Write what the port takes now; the number of bytes written."""
        if not self._tx or self._closed:
            return 0
        port = self._ensure_port()
        if port is None:
            return 0
        fd = _descriptor(port)
        try:
            # pyserial's non-blocking write spins on EAGAIN until there is room: only
            # write to a descriptor the kernel says can take something now
            if fd is not None and not select.select([], [fd], [], 0)[1]:
                return 0
            n = port.write(bytes(self._tx[:READ_CHUNK_BYTES])) or 0
        except serial.SerialTimeoutException:
            n = 0  # the port's buffer is full: the rest goes out on a later call
        except (OSError, serial.SerialException, ValueError) as exc:
            self._fail(exc)
            return 0
        del self._tx[:n]
        self.bytes_written += n
        return n

    def counters(self) -> dict[str, Any]:
        return {"frames_sent": self.frames_sent, "bytes_written": self.bytes_written,
                "refused": self.refused, "refused_oversize": self.refused_oversize,
                "tx_pending_bytes": len(self._tx), "errors": self.errors,
                "reopens": self.reopens, "last_error": self.last_error,
                "rx": self.deframer.counters.as_dict()}

    def _read(self) -> None:
        port = self._ensure_port()
        if port is None:
            return
        try:
            n = port.in_waiting
            data = port.read(min(n, READ_CHUNK_BYTES)) if n else b""
        except (OSError, serial.SerialException, ValueError) as exc:
            self._fail(exc)
            return
        if data:
            self._inbox.extend(self.deframer.feed(data))

    def _ensure_port(self) -> SerialPort | None:
        if self.port is not None or self._closed or self._reopen is None:
            return self.port
        now = self._now()
        if self._down_since_s is not None and now - self._down_since_s < self.reopen_interval_s:
            return None
        try:
            self.port = self._reopen()
        except (OSError, serial.SerialException, ValueError) as exc:
            self.errors += 1
            self.last_error = str(exc)
            self._down_since_s = now
            return None
        if self._down_since_s is not None and self._down_since_s != -float("inf"):
            self.reopens += 1
        self._down_since_s = None
        if self._tx:  # the far end lost the frame we were in the middle of: start clean
            self._tx[:0] = DELIMITER
        return self.port

    def _fail(self, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = str(exc) or type(exc).__name__
        self._drop_port()
        self._down_since_s = self._now()

    def _drop_port(self) -> None:
        if self.port is not None:
            try:
                self.port.close()
            except (OSError, serial.SerialException):
                pass  # closing a port that is already gone: nothing more to do
        self.port = None


def _descriptor(port: SerialPort) -> int | None:
    """The port's file descriptor, or None for one that has none (``loop://``)."""
    fileno = getattr(port, "fileno", None)
    if fileno is None:
        return None
    try:
        return int(fileno())
    except (OSError, ValueError):  # io.UnsupportedOperation is both
        return None


__all__ = ["BAUD_RATES", "DEFAULT_BAUD", "SerialPort", "SerialTransport", "check_baud",
           "open_port"]


@dataclass(frozen=True)
class SerialEndpoint:
    """``serial:DEVICE[?baud=N]``: the executive's space link over a UART (a board)."""

    device: str
    baud: int = DEFAULT_BAUD


SERIAL_SCHEME = "serial:"


def parse_endpoint(text: str) -> SerialEndpoint | None:
    """A ``serial:`` endpoint, checked; ``None`` for any other scheme (ZeroMQ). Raises
    :class:`~flightsw.errors.FlightError` naming what is wrong."""
    if not text.startswith(SERIAL_SCHEME):
        return None
    device, _, query = text[len(SERIAL_SCHEME):].partition("?")
    if not device:
        raise FlightError("serial endpoint needs a device, e.g. serial:/dev/ttyTHS1?baud=921600",
                          got=text)
    baud = DEFAULT_BAUD
    for pair in filter(None, query.split("&")):
        key, _, value = pair.partition("=")
        if key != "baud":
            raise FlightError("unknown serial endpoint option (only baud=N)", got=pair)
        if not value.isdigit():
            raise FlightError("baud must be a whole number that a UART driver accepts",
                              got=value)
        try:
            baud = check_baud(int(value))
        except ValueError as exc:
            raise FlightError(str(exc), got=value) from None
    return SerialEndpoint(device, baud)
