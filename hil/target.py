"""The board a HIL test runs against: a real one when configured, the virtual one
otherwise, behind one small interface so the test bodies are the same.

    pytest -m hil                                     # the virtual board (CI)
    pytest -m hil --hil-board ssh://aisat@orin.local --hil-uart /dev/ttyUSB0
    AISAT_HIL_BOARD=ssh://pi@pi5.local AISAT_HIL_UART=/dev/ttyAMA0 pytest -m hil

- ``virtual[:FAMILY]`` (default ``virtual:jetson-orin-nano``): a fake tree in a
  temporary directory, made live by :mod:`hil.board_heat` (its temperature follows the
  CPU time of the load a test starts), and a pty pair for the UART, whose board end runs
  ``python -m flightsw`` here as the installed service runs it on a board.
- ``ssh://[USER@]HOST``: a board installed with ``hil/install/install.sh``. Sensors and
  actuations run there through ``aisat board --json`` in the service's virtualenv; load
  is a busy loop run there; the UART is the host's end of the cable (``--hil-uart``),
  with the board's ``aisat-flightsw`` service on the other end.

Every reading and actuation comes back as the same JSON ``aisat board --json`` prints,
so a test reads a real board and the virtual one alike.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flightsw.serial_transport import DEFAULT_BAUD, SerialTransport

BOARD_ENV = "AISAT_HIL_BOARD"
UART_ENV = "AISAT_HIL_UART"
DEFAULT_TARGET = "virtual:jetson-orin-nano"
REMOTE_PYTHON = "/opt/aisat/venv/bin/python"
"""Where :file:`hil/install/install.sh` puts the service's interpreter."""
BUSY_LOOP = "import time\nend = time.monotonic() + {s}\nwhile time.monotonic() < end: pass\n"


class TargetError(Exception):
    """The configured board cannot be used (the reason says why)."""


@dataclass
class BoardTarget:
    """What a HIL test does with a board."""

    spec: str
    root: Path | None = None  # virtual: the tree
    host: str = ""  # ssh: [user@]host
    uart_device: str = ""  # ssh: the host's end of the cable
    _children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def virtual(self) -> bool:
        return self.root is not None

    # --- reading and actuating --------------------------------------------------------
    def board(self, *extra: str) -> dict[str, Any]:
        """``aisat board --json`` on the target (``extra``: e.g. ``--cpu-max-khz N``)."""
        if self.root is not None:
            argv = [sys.executable, "-m", "aisat", "board", "--json", "--root",
                    str(self.root), *extra]
        else:
            argv = ["ssh", self.host, "--", REMOTE_PYTHON, "-m", "aisat", "board", "--json",
                    *extra]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if out.returncode not in (0, 1):  # 1: an actuation was refused, reported inside
            raise TargetError(f"{' '.join(argv[:6])}...: {out.stderr.strip()[-500:]}")
        result: dict[str, Any] = json.loads(out.stdout)
        return result

    @contextmanager
    def load(self, seconds: float, cores: int = 2) -> Iterator[None]:
        """``cores`` busy loops on the target for ``seconds`` (the payload's kind of
        work), in one process tree (virtual: the one the heat model follows)."""
        code = ("import multiprocessing as m\n"
                "def busy():\n" + "".join(f"    {line}\n" for line in
                                            BUSY_LOOP.format(s=seconds).splitlines())
                + f"if __name__ == '__main__':\n"
                f"    ps = [m.Process(target=busy) for _ in range({cores})]\n"
                f"    [p.start() for p in ps]; [p.join() for p in ps]\n")
        if self.root is not None:
            argv = [sys.executable, "-c", code]
        else:
            argv = ["ssh", self.host, "--", "python3", "-c", shlex.quote(code)]
        proc = subprocess.Popen(argv)
        self._follow(proc.pid)
        try:
            yield
        finally:
            proc.wait(timeout=seconds + 60)

    def _follow(self, pid: int) -> None:
        """Virtual: the heat model follows this process's CPU time."""
        if self.root is not None:
            (self.root / "aisat-hil.pid").write_text(f"{pid}\n")

    # --- the UART -----------------------------------------------------------------------
    @contextmanager
    def uart(self, tmp: Path) -> Iterator[SerialTransport]:
        """The host's end of the link to the board's executive (virtual: started here,
        with its link on a pty and its compute readings from the virtual tree), while a
        plant feeds it a spacecraft in contact (a link that is down sends nothing): on a
        board, its service's ``--plant`` names this host's :data:`PLANT_PORT`."""
        with sample_feeder("127.0.0.1" if self.root is not None else "0.0.0.0") as plant:
            with self._uart(tmp, plant) as link:
                yield link

    @contextmanager
    def _uart(self, tmp: Path, plant: str) -> Iterator[SerialTransport]:
        if self.root is None:
            if not self.uart_device:
                raise TargetError(f"--hil-uart (or ${UART_ENV}) names the host's end of "
                                  f"the cable to {self.host}")
            host = SerialTransport.open(self.uart_device, DEFAULT_BAUD)
            try:
                yield host
            finally:
                host.close()
            return
        from hil.virtual_uart import open_pty_pair

        pair = open_pty_pair()
        log = open(tmp / "flightsw.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "flightsw", "--plant", plant,
             "--link", f"serial:{pair.slave_path}?baud={DEFAULT_BAUD}", "--clock", "real",
             "--board", f"virtual:{self.root}", "--run-dir", str(tmp),
             "--watchdog", "none"], stdout=log, stderr=log)
        try:
            yield SerialTransport(pair.master)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.close()
            pair.close()

    def close(self) -> None:
        for proc in self._children:
            proc.terminate()
            proc.wait(timeout=10)
        self._children.clear()


PLANT_PORT = 5601
SAMPLE_PERIOD_S = 0.5


@contextmanager
def sample_feeder(host: str) -> Iterator[str]:
    """A plant that only samples: nominal sensors, in contact, every
    :data:`SAMPLE_PERIOD_S` (the executive free-running takes its time from them), bound
    on ``host`` (a board's executive connects); yields the endpoint to give it."""
    import threading

    import zmq

    from flightsw.harness import EPOCH_S, nominal_sensors
    from flightsw.messages import SensorsBody
    from flightsw.wire import Kind, Sequencer

    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = ctx.socket(zmq.PAIR)
    sock.setsockopt(zmq.LINGER, 0)
    port = (sock.bind_to_random_port(f"tcp://{host}") if host == "127.0.0.1"
            else (sock.bind(f"tcp://{host}:{PLANT_PORT}"), PLANT_PORT)[1])
    stop = threading.Event()
    body = SensorsBody(nominal_sensors()).to_body()

    def feed() -> None:
        seq = Sequencer("plant")
        t0 = time.monotonic()
        while not stop.wait(SAMPLE_PERIOD_S):
            try:
                sock.send(seq.pack(Kind.SENSORS, EPOCH_S + time.monotonic() - t0, body),
                          zmq.NOBLOCK)
                while sock.poll(0):
                    sock.recv()  # actuators: nothing to model
            except zmq.ZMQError:
                pass  # no executive yet: the next sample goes when it is there

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{port}"
    finally:
        stop.set()
        thread.join(timeout=5)
        sock.close(0)
        ctx.term()


def open_target(spec: str | None, workdir: Path, uart: str = "") -> BoardTarget:
    """The target a spec names (``None``: the environment's, else the virtual board)."""
    spec = spec or os.environ.get(BOARD_ENV) or DEFAULT_TARGET
    uart = uart or os.environ.get(UART_ENV, "")
    if spec == "virtual" or spec.startswith("virtual:"):
        from hil.virtual_board import FAMILIES, build_tree

        family = spec.partition(":")[2] or DEFAULT_TARGET.partition(":")[2]
        if family not in FAMILIES:
            raise TargetError(f"no virtual board {family!r}; choose from {', '.join(FAMILIES)}")
        root = build_tree(workdir / "board", family, marker=True)
        target = BoardTarget(spec, root=root)
        heat = subprocess.Popen([sys.executable, "-m", "hil.board_heat", "--root", str(root),
                                 "--pid-file", str(root / "aisat-hil.pid"),
                                 "--period-s", "0.2", "--time-constant-s", "5"])
        target._children.append(heat)
        deadline = time.monotonic() + 30
        while not (root / "aisat-virtual-board.heat").exists():  # live before the tests
            if heat.poll() is not None or time.monotonic() > deadline:
                target.close()
                raise TargetError("the virtual board's heat model did not start")
            time.sleep(0.05)
        return target
    if spec.startswith("ssh://"):
        host = spec[len("ssh://"):].strip("/")
        if not host:
            raise TargetError("ssh:// needs a host: ssh://[user@]host")
        return BoardTarget(spec, host=host, uart_device=uart)
    raise TargetError(f"unknown HIL board {spec!r}: virtual[:FAMILY] or ssh://[user@]host")


__all__ = ["BOARD_ENV", "UART_ENV", "BoardTarget", "TargetError", "open_target"]
