"""Where a running stack lives: its run directory and the endpoints written there.

``aisat up``/``aisat sim`` write ``stack.json`` into the run directory; the operator's
CLI (``aisat ground ...``) reads it to find the ground process and the archive. Writes
are atomic (tmp + fsync + rename) so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flightsw.errors import FlightError

STACK_FILE = "stack.json"


def default_run_dir() -> Path:
    """``$AISAT_RUN_DIR``, else ``$XDG_STATE_HOME/aisat``, else ``~/.local/state/aisat``."""
    env = os.environ.get("AISAT_RUN_DIR")
    if env:
        return Path(env)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "aisat"


@dataclass
class StackInfo:
    """The addresses of one running stack (all loopback TCP)."""

    run_dir: str
    plant_bus: str = ""  # plant <-> executive (unix:// seqpacket, or a ZeroMQ PAIR)
    world: str = ""  # plant PUB: truth for the station emulator and the status line
    link: str = ""  # executive <-> ground station (PAIR)
    ops: str = ""  # ground process request/reply API for the CLI and scripts
    archive: str = ""  # path of the ground's SQLite archive
    dictionary: str = ""  # path of the exported dictionary JSON
    profile: str = ""
    mode: str = ""  # "lockstep" or "realtime"
    pids: dict[str, int] = field(default_factory=dict)

    def write(self) -> Path:
        path = Path(self.run_dir) / STACK_FILE
        atomic_write_text(path, json.dumps(asdict(self), indent=2))
        return path

    @classmethod
    def read(cls, run_dir: Path) -> StackInfo:
        path = Path(run_dir) / STACK_FILE
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise FlightError("no running stack found (start one with 'aisat up')",
                              looked_in=str(path)) from exc
        except (OSError, json.JSONDecodeError) as exc:
            raise FlightError("stack file unreadable", path=str(path), error=str(exc)) from exc
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file so that readers see either the old or the new content, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
