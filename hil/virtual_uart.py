"""A virtual board's UART: a pseudo-terminal pair standing in for a serial cable.

The board side opens the pty's slave by its path with pyserial, exactly as it opens
``/dev/ttyTHS1`` on a Jetson (the same code path); the host side holds the master, which
has no path pyserial could open, so :class:`PtyMasterPort` gives it the few methods a
:class:`flightsw.serial_transport.SerialTransport` uses. A pty has no baud rate: bytes
move as fast as the kernel copies them, which is what the serial bench measures (the
software's ceiling), next to the computed line rates.
"""

from __future__ import annotations

import errno
import fcntl
import os
import termios
import tty
from dataclasses import dataclass


class PtyMasterPort:
    """The master end of a pty as a non-blocking pyserial-like port."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        os.set_blocking(fd, False)

    @property
    def in_waiting(self) -> int:
        buf = fcntl.ioctl(self.fd, termios.FIONREAD, b"\0\0\0\0")
        return int.from_bytes(buf, "little")

    def read(self, size: int = 1) -> bytes:
        try:
            return os.read(self.fd, size)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno == errno.EIO:  # the slave side is closed: nothing to read
                return b""
            raise

    def write(self, data: bytes) -> int:
        try:
            return os.write(self.fd, data)
        except BlockingIOError:
            return 0

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@dataclass
class PtyPair:
    """A cable: ``master`` for the host, ``slave_path`` for the board to open by name."""

    master: PtyMasterPort
    slave_path: str
    _slave_fd: int

    def close(self) -> None:
        self.master.close()
        if self._slave_fd >= 0:
            os.close(self._slave_fd)
            self._slave_fd = -1


def open_pty_pair() -> PtyPair:
    """A new pty in raw mode (no echo, no line editing: a serial line, not a terminal).

    The slave stays open here too, so the master never reads EIO while the board side
    reopens its end (a cable pulled and plugged back in)."""
    master_fd, slave_fd = os.openpty()
    tty.setraw(slave_fd)
    return PtyPair(PtyMasterPort(master_fd), os.ttyname(slave_fd), slave_fd)


__all__ = ["PtyMasterPort", "PtyPair", "open_pty_pair"]
