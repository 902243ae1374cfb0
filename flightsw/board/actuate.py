"""Turning a board's knobs, each turn read back and reported.

Two knobs the throttle can use on real silicon:

- the Jetson power mode (nvpmodel). Mode ids differ per module (15W is id 0 on an Orin
  Nano and no id at all on a Xavier NX), so the table is read from the board's own
  ``/etc/nvpmodel.conf`` (``< POWER_MODEL ID=n NAME=name >`` sections, ``< PM_CONFIG
  DEFAULT=n >``) and a mode is asked for by name; ``nvpmodel -m ID`` sets it and
  ``nvpmodel -q`` (``NV Power Mode: NAME`` then the id) reads it back;
- the CPU clock ceiling (cpufreq ``scaling_max_freq``, kHz) per CPU, found by directory
  name. The kernel clamps what it is given to the hardware's range, so the value read
  back - not the one written - is what is reported.

Every call returns :class:`Actuation` records (knob, requested, read back, ok, detail):
a refused write (no permission, a value out of range, a command that failed) is a
record with ``ok=False`` and the reason, never an exception, so the executive can turn
it into telemetry. Everything goes through a root directory and an injectable command
runner, so CI exercises it on a fake tree with a fake ``nvpmodel``.
"""

from __future__ import annotations

import math
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from flightsw.board.detect import read_text
from flightsw.board.vcgencmd import CommandRunner, run_command

NVPMODEL_CONF = "etc/nvpmodel.conf"
CPU_DIR = "sys/devices/system/cpu"


@dataclass(frozen=True)
class Actuation:
    knob: str  # "nvpmodel", "cpu3.scaling_max_freq"
    requested: str
    read_back: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class PowerMode:
    id: int
    name: str
    settings: tuple[tuple[str, str, str], ...] = ()  # (param, key, value) lines

    def setting(self, param: str, key: str) -> str | None:
        return next((v for p, k, v in self.settings if p == param and k == key), None)


@dataclass(frozen=True)
class ModeTable:
    modes: tuple[PowerMode, ...]
    default_id: int | None
    problems: tuple[str, ...] = field(default_factory=tuple)

    def find(self, name_or_id: str | int) -> PowerMode | None:
        for m in self.modes:
            if (isinstance(name_or_id, int) and m.id == name_or_id) or m.name == name_or_id:
                return m
        return None


def parse_nvpmodel_conf(text: str) -> ModeTable:
    """The power modes in an nvpmodel.conf, in file order; odd lines are problems."""
    modes: list[PowerMode] = []
    problems: list[str] = []
    default_id: int | None = None
    current: tuple[int, str] | None = None
    settings: list[tuple[str, str, str]] = []

    def close() -> None:
        if current is not None:
            modes.append(PowerMode(current[0], current[1], tuple(settings)))

    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        head = re.fullmatch(r"<\s*(\w+)\s*(.*?)\s*>", line)
        if head:
            close()
            current, settings = None, []
            attrs = dict(re.findall(r"(\w+)=(\S+)", head.group(2)))
            if head.group(1) == "POWER_MODEL":
                if "ID" not in attrs or not attrs["ID"].isdigit() or "NAME" not in attrs:
                    problems.append(f"line {n}: a power model without ID and NAME: {line!r}")
                    continue
                current = (int(attrs["ID"]), attrs["NAME"])
            elif head.group(1) == "PM_CONFIG" and attrs.get("DEFAULT", "").isdigit():
                default_id = int(attrs["DEFAULT"])
            continue
        if current is not None:
            parts = line.split()
            if len(parts) == 3:
                settings.append((parts[0], parts[1], parts[2]))
            else:
                problems.append(f"line {n}: not 'PARAM KEY VALUE': {line!r}")
    close()
    ids = [m.id for m in modes]
    if len(set(ids)) != len(ids):
        problems.append(f"duplicate power model ids: {sorted(ids)}")
    return ModeTable(tuple(modes), default_id, tuple(problems))


def read_mode_table(root: Path | str) -> ModeTable:
    problems: list[str] = []
    text = _read_all(Path(root) / NVPMODEL_CONF, problems)
    if text is None:
        return ModeTable((), None, (*problems, f"{Path(root) / NVPMODEL_CONF}: not found"))
    table = parse_nvpmodel_conf(text)
    return ModeTable(table.modes, table.default_id, (*problems, *table.problems))


def _read_all(path: Path, problems: list[str]) -> str | None:
    """The whole file (an nvpmodel.conf runs to tens of kB, past a sysfs read)."""
    try:
        return path.read_text("utf-8", "replace")
    except FileNotFoundError:
        return None
    except OSError as exc:
        problems.append(f"{path}: {exc.strerror or exc}")
        return None


def parse_nvpmodel_query(text: str) -> tuple[str, int | None]:
    """``NV Power Mode: 15W`` then ``0`` -> ("15W", 0)."""
    m = re.search(r"NV Power Mode:\s*(\S+)", text)
    if not m:
        raise ValueError(f"not an nvpmodel -q reply: {text.strip()[:60]!r}")
    after = text[m.end():].split()
    return m.group(1), int(after[0]) if after and after[0].isdigit() else None


def query_power_mode(runner: CommandRunner = run_command) -> tuple[str, int | None]:
    return parse_nvpmodel_query(runner(["nvpmodel", "-q"]))


def set_power_mode(table: ModeTable, name_or_id: str | int,
                   runner: CommandRunner = run_command) -> Actuation:
    """Set a power mode named in the board's table; read back which mode is active."""
    mode = table.find(name_or_id)
    if mode is None:
        known = ", ".join(f"{m.id}={m.name}" for m in table.modes) or "none"
        return Actuation("nvpmodel", str(name_or_id), "", False,
                         f"no such power mode on this board (it has: {known})")
    try:
        runner(["nvpmodel", "-m", str(mode.id)])
    except (OSError, subprocess.SubprocessError) as exc:
        return Actuation("nvpmodel", mode.name, _read_back_mode(runner), False,
                         f"nvpmodel -m {mode.id}: {exc}")
    back = _read_back_mode(runner)
    return Actuation("nvpmodel", mode.name, back, back == mode.name,
                     "" if back == mode.name else f"asked for {mode.name}, active is {back}")


def _read_back_mode(runner: CommandRunner) -> str:
    try:
        return query_power_mode(runner)[0]
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return f"? ({exc})"


def _cpu_dirs(root: Path) -> list[Path]:
    base = root / CPU_DIR
    found = [d for d in base.glob("cpu[0-9]*") if (d / "cpufreq").is_dir()]
    return sorted(found, key=lambda d: int(d.name[3:]))


def set_cpu_max_khz(root: Path | str, khz: float, cpus: list[int] | None = None) -> list[Actuation]:
    """Write ``scaling_max_freq`` for each CPU (all by default) and read it back."""
    out: list[Actuation] = []
    if not math.isfinite(khz) or khz <= 0:
        return [Actuation("cpufreq.scaling_max_freq", str(khz), "", False,
                          "the ceiling must be a positive number of kHz")]
    dirs = _cpu_dirs(Path(root))
    if cpus is not None:
        wanted = set(cpus)
        missing = wanted - {int(d.name[3:]) for d in dirs}
        out += [Actuation(f"cpu{n}.scaling_max_freq", str(int(khz)), "", False,
                          "no such CPU with cpufreq") for n in sorted(missing)]
        dirs = [d for d in dirs if int(d.name[3:]) in wanted]
    for d in dirs:
        path = d / "cpufreq/scaling_max_freq"
        knob = f"{d.name}.scaling_max_freq"
        try:
            path.write_text(f"{int(khz)}\n")
        except OSError as exc:
            out.append(Actuation(knob, str(int(khz)), (read_text(path) or "").strip(), False,
                                 f"write refused: {exc.strerror or exc}"))
            continue
        back = (read_text(path) or "").strip()
        ok = back == str(int(khz))
        out.append(Actuation(knob, str(int(khz)), back, ok,
                             "" if ok else "the kernel kept another value (clamped to the "
                             "hardware's range)"))
    return out


__all__ = ["Actuation", "ModeTable", "PowerMode", "parse_nvpmodel_conf",
           "parse_nvpmodel_query", "query_power_mode", "read_mode_table", "set_cpu_max_khz",
           "set_power_mode"]
