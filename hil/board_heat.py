"""The virtual board's heat: its SoC temperature and power follow the real CPU load.

A virtual board's tree (:mod:`hil.virtual_board`) is a snapshot; this makes it live, so
that throttling on the virtual board closes a real loop: the payload's inference burns
real CPU time, which this reads from ``/proc/<pid>/stat`` (no psutil), turns into watts
and degrees, and writes back into the tree's thermal zones and power rails, where the
executive reads them by name as on a board (:mod:`flightsw.board.hybrid`). The
executive throttles the payload, the payload burns less CPU, the board cools.

The physics is a first-order lumped model (one heat capacity behind one thermal
resistance to the board's surroundings), the pure :func:`step`:

    P = idle_w + core_w * busy_cores * clock_frac**2
    dT/dt = (ambient_c + R * P - T) / tau

``busy_cores`` is measured (CPU seconds per wall second of the whole process tree:
executive, payload, and any onnxruntime threads - a higher thread count shows up here
as more cores busy). ``clock_frac`` is the board's CPU ceiling from its own
``scaling_max_freq`` over ``cpuinfo_max_freq``, so an actuation (a lower nvpmodel mode,
which writes the ceiling, or a cpufreq cap) lowers the heat of the same work: the host's
CPU is not slowed, so the model scales the power as dynamic power scales with the clock
at a voltage that follows it (roughly f * V^2 ~ f^2 for the same busy time, stated as a
model, not a measurement). ``ambient_c`` is the step input: a test or an operator
raises it to play a thermal step (a radiator turning into the sun).

    python -m hil.board_heat --root /tmp/vboard --stack-dir RUN_DIR   # follow a stack
    python -m hil.board_heat --root /tmp/vboard --pid 1234
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from flightsw.board.detect import read_text
from flightsw.board.sensors import OFFLINE_MILLI_C
from flightsw.board.vcgencmd import parse_pmic_adc
from hil.virtual_board import PI5_PMIC_ADC, PMIC_FILE

AMBIENT_FILE = "aisat-virtual-board.ambient_c"
"""In the tree: the surroundings' temperature (C); write it to play a thermal step."""
STATE_FILE = "aisat-virtual-board.heat"
"""In the tree: the model's last temperature, power and load (for people and benches)."""
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class HeatModel:
    """A board's lumped thermal model (defaults: a small Jetson-class module)."""

    ambient_c: float = 45.0
    idle_w: float = 4.0  # the board idling
    core_w: float = 3.0  # one core busy at full clock
    resistance_c_per_w: float = 4.0  # steady rise per watt
    time_constant_s: float = 20.0
    supply_v: float = 5.08  # VDD_IN's voltage


@dataclass(frozen=True)
class HeatState:
    temp_c: float
    power_w: float = 0.0
    busy_cores: float = 0.0
    clock_frac: float = 1.0


def power_w(model: HeatModel, busy_cores: float, clock_frac: float) -> float:
    return model.idle_w + model.core_w * max(busy_cores, 0.0) * min(max(clock_frac, 0.0), 1.0) ** 2


def step(state: HeatState, model: HeatModel, busy_cores: float, clock_frac: float,
         dt_s: float) -> HeatState:
    """The board ``dt_s`` later, with ``busy_cores`` busy at ``clock_frac`` of its clock."""
    p = power_w(model, busy_cores, clock_frac)
    steady = model.ambient_c + model.resistance_c_per_w * p
    k = 1.0 - math.exp(-max(dt_s, 0.0) / model.time_constant_s)
    return HeatState(state.temp_c + (steady - state.temp_c) * k, p, busy_cores, clock_frac)


# --- the load: CPU seconds of a process tree, from /proc ----------------------------------------
def _stat_fields(text: str) -> list[str]:
    """``/proc/PID/stat`` after the command name (which may hold spaces and parentheses)."""
    return text[text.rindex(")") + 2:].split()


def tree_cpu_s(root_pid: int, proc: Path = Path("/proc")) -> float:
    """CPU seconds (user + system) of a process and all its descendants, now. Children
    that already exited are not counted (they are gone from /proc); a meter only ever
    uses the differences between two readings of live processes."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in _pids(proc):
        text = read_text(proc / str(entry) / "stat")
        if text is None or ")" not in text:
            continue  # exited while we looked
        f = _stat_fields(text)
        try:
            parents[entry] = int(f[1])  # field 4: ppid
            cpu[entry] = (int(f[11]) + int(f[12])) / CLK_TCK  # fields 14, 15: utime, stime
        except (IndexError, ValueError):
            continue
    total = 0.0
    wanted = {root_pid}
    changed = True
    while changed:  # the descendants, however deep (payload threads are not processes)
        changed = False
        for pid, ppid in parents.items():
            if ppid in wanted and pid not in wanted:
                wanted.add(pid)
                changed = True
    for pid in wanted:
        total += cpu.get(pid, 0.0)
    return total


def _pids(proc: Path) -> Iterable[int]:
    try:
        return [int(p.name) for p in proc.iterdir() if p.name.isdigit()]
    except OSError:
        return []


class CpuMeter:
    """Busy cores of a process tree between two calls (CPU seconds per wall second).

    A tree whose root changed (a restarted executive) starts afresh: its first reading
    is a baseline, not a jump."""

    def __init__(self, pid_source: Callable[[], int | None], *,
                 cpu_s: Callable[[int], float] = tree_cpu_s,
                 monotonic_s: Callable[[], float] = time.monotonic) -> None:
        self.pid_source = pid_source
        self._cpu_s = cpu_s
        self._now = monotonic_s
        self._last: tuple[int, float, float] | None = None  # pid, cpu s, wall s

    def busy_cores(self) -> float:
        pid = self.pid_source()
        if pid is None:
            self._last = None
            return 0.0
        cpu, now = self._cpu_s(pid), self._now()
        last, self._last = self._last, (pid, cpu, now)
        if last is None or last[0] != pid or now <= last[2]:
            return 0.0
        return max(cpu - last[1], 0.0) / (now - last[2])


# --- the tree ------------------------------------------------------------------------------------
def _zones(root: Path) -> list[Path]:
    return sorted((root / "sys/class/thermal").glob("thermal_zone*"))


def zone_offsets(root: Path) -> dict[Path, float]:
    """Each online zone's offset from the hottest, as the tree was built (the SoC's
    zones keep their spread as the whole die warms)."""
    temps: dict[Path, float] = {}
    for z in _zones(root):
        text = read_text(z / "temp")
        if text is None:
            continue
        try:
            milli = int(text.strip())
        except ValueError:
            continue
        if milli > OFFLINE_MILLI_C:
            temps[z] = milli / 1000.0
    top = max(temps.values(), default=0.0)
    return {z: t - top for z, t in temps.items()}


def clock_frac(root: Path) -> float:
    """The CPU ceiling the board is held to: mean scaling_max / cpuinfo_max over CPUs."""
    fracs = []
    for d in sorted((root / "sys/devices/system/cpu").glob("cpu[0-9]*/cpufreq")):
        try:
            smax = float((read_text(d / "scaling_max_freq") or "").strip())
            hmax = float((read_text(d / "cpuinfo_max_freq") or "").strip())
        except ValueError:
            continue
        if hmax > 0:
            fracs.append(min(smax / hmax, 1.0))
    return sum(fracs) / len(fracs) if fracs else 1.0


def read_ambient_c(root: Path, default_c: float) -> float:
    text = read_text(root / AMBIENT_FILE)
    try:
        return float(text.strip()) if text is not None else default_c
    except ValueError:
        return default_c


VALUE_WIDTH = 15
"""Every value the model writes is this wide (right-aligned, then a newline), so a write
replaces the whole file's bytes in place: a reader sees the old number or the new one,
never an empty file (truncating first, as ``write_text`` does, opens that window; a
rename per value costs ~1 ms each on a loaded host, 20 values a turn)."""


def _write(path: Path, value: str) -> None:
    data = value.strip().rjust(VALUE_WIDTH).encode() + b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, data, 0)
        if os.fstat(fd).st_size > len(data):  # a longer value someone else wrote
            os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


def write_tree(root: Path, state: HeatState, model: HeatModel,
               offsets: dict[Path, float]) -> None:
    """The state into the tree: every online zone, the rails, the CPUs' current clock."""
    for zone, offset in offsets.items():
        _write(zone / "temp", f"{round((state.temp_c + offset) * 1000)}\n")
    for hw in (root / "sys/class/hwmon").glob("hwmon*"):
        if (read_text(hw / "name") or "").strip() != "ina3221":
            continue
        for label_file in hw.glob("in*_label"):
            n = label_file.name[2:-len("_label")]
            label = (read_text(label_file) or "").strip()
            watts = {"VDD_IN": state.power_w,
                     "VDD_CPU_GPU_CV": state.power_w - model.idle_w,
                     "VDD_SOC": model.idle_w * 0.4}.get(label)
            if watts is not None:
                _write(hw / f"curr{n}_input", f"{round(1000 * watts / model.supply_v)}\n")
    write_pmic(root, state.power_w - model.idle_w)
    for d in (root / "sys/devices/system/cpu").glob("cpu[0-9]*/cpufreq"):
        smax = (read_text(d / "scaling_max_freq") or "").strip()
        if smax:
            _write(d / "scaling_cur_freq", smax + "\n")
    _write(root / STATE_FILE,
        f"temp_c={state.temp_c:.3f} power_w={state.power_w:.3f} "
        f"busy_cores={state.busy_cores:.3f} clock_frac={state.clock_frac:.3f}")


def write_pmic(root: Path, load_w: float) -> None:
    """A virtual Pi 5's PMIC reply (what its ``vcgencmd pmic_read_adc`` answers): the
    idle board's rails with the load's watts on ``VDD_CORE``."""
    path = root / PMIC_FILE
    if not path.exists():
        return
    core_v, idle_a = parse_pmic_adc(PI5_PMIC_ADC)["VDD_CORE"]
    amps = idle_a + max(load_w, 0.0) / core_v
    lines = [line.split("=")[0] + f"={amps:.8f}A" if line.strip().startswith("VDD_CORE_I")
             else line for line in PI5_PMIC_ADC.splitlines()]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)  # read whole by another process: never half a reply


class BoardHeat:
    """The shell: measure the load, step the model, write the tree."""

    def __init__(self, root: Path | str, model: HeatModel, busy_cores: Callable[[], float],
                 start_c: float | None = None) -> None:
        self.root = Path(root)
        self.model = model
        self.busy_cores = busy_cores
        self.offsets = zone_offsets(self.root)
        if not self.offsets:
            raise ValueError(f"{self.root}: no online thermal zone to heat")
        # idle and settled unless told otherwise: any rise is the load's
        idle_c = model.ambient_c + model.resistance_c_per_w * model.idle_w
        self.state = HeatState(idle_c if start_c is None else start_c)
        self.steps = 0

    def turn(self, dt_s: float) -> HeatState:
        model = replace(self.model, ambient_c=read_ambient_c(self.root, self.model.ambient_c))
        self.state = step(self.state, model, self.busy_cores(), clock_frac(self.root), dt_s)
        write_tree(self.root, self.state, model, self.offsets)
        self.steps += 1
        return self.state


def set_ambient_c(root: Path | str, ambient_c: float) -> None:
    """Play a thermal step: the board's surroundings are now ``ambient_c``."""
    _write(Path(root) / AMBIENT_FILE, f"{ambient_c}\n")


def _stack_pid(run_dir: Path) -> Callable[[], int | None]:
    from flightsw.errors import FlightError
    from flightsw.stackinfo import StackInfo

    def pid() -> int | None:
        try:
            return StackInfo.read(run_dir).pids.get("flightsw")
        except FlightError:
            return None

    return pid


__all__ = ["AMBIENT_FILE", "BoardHeat", "CpuMeter", "HeatModel", "HeatState", "clock_frac",
           "power_w", "set_ambient_c", "step", "tree_cpu_s", "write_tree", "zone_offsets"]


def _file_pid(path: Path) -> Callable[[], int | None]:
    def pid() -> int | None:
        text = read_text(path)
        return int(text) if text is not None and text.strip().isdigit() else None

    return pid


def stack_argv(board_option: str, run_dir: Path | str) -> list[str] | None:
    """The heat process for a stack whose executive flies ``--board virtual:PATH``
    (None for any other board: a real one heats itself)."""
    if not board_option.startswith("virtual:"):
        return None
    return [sys.executable, "-m", "hil.board_heat", "--root", board_option[len("virtual:"):],
            "--stack-dir", str(run_dir)]


def start_for_stack(stack: Any, board_option: str, timeout_s: float = 30.0) -> None:
    """Start the heat process for ``stack`` (a :class:`hil.stack.Stack`) when its
    executive flies a virtual board, and wait until the tree is live: an executive that
    read the tree's built-in snapshot first would fly on numbers no load made."""
    argv = stack_argv(board_option, stack.info.run_dir)
    if argv is None:
        return
    live = Path(board_option[len("virtual:"):]) / STATE_FILE
    live.unlink(missing_ok=True)
    stack._spawn("board_heat", argv)
    deadline = time.monotonic() + timeout_s
    while not live.exists():
        failed = stack.failed_process()
        if failed or time.monotonic() > deadline:
            from hil.stack import StackError

            raise StackError(failed or f"the virtual board's heat model did not start "
                             f"within {timeout_s:.0f} s (see board_heat.log)")
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    from flightsw.lifeline import die_with_parent

    die_with_parent()
    p = argparse.ArgumentParser(prog="python -m hil.board_heat", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, required=True, help="the virtual board's tree")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--pid", type=int, help="the process tree whose CPU load heats the board")
    who.add_argument("--stack-dir", type=Path,
                     help="follow the executive of the stack running in this run directory")
    who.add_argument("--pid-file", type=Path,
                     help="follow the process whose pid this file holds (read every turn)")
    p.add_argument("--period-s", type=float, default=0.5)
    p.add_argument("--ambient-c", type=float, default=HeatModel.ambient_c)
    p.add_argument("--time-constant-s", type=float, default=HeatModel.time_constant_s,
                   help="how fast the board follows its load (a test board: a few s)")
    args = p.parse_args(argv)
    if not (args.period_s > 0 and args.time_constant_s > 0):
        print("board_heat: --period-s and --time-constant-s must be positive",
              file=sys.stderr)
        return 2
    pid_source: Callable[[], int | None]
    if args.pid is not None:
        pid_source = lambda: args.pid  # noqa: E731
    elif args.pid_file is not None:
        pid_source = _file_pid(args.pid_file)
    else:
        pid_source = _stack_pid(args.stack_dir)
    try:
        heat = BoardHeat(args.root, HeatModel(ambient_c=args.ambient_c,
                                              time_constant_s=args.time_constant_s),
                         CpuMeter(pid_source).busy_cores)
    except ValueError as exc:
        print(f"board_heat: {exc}", file=sys.stderr)
        return 2
    heat.turn(0.0)  # the tree is live (and says so) before anyone reads it
    stop: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _f: stop.append(signum))
    last = time.monotonic()
    while not stop:
        time.sleep(args.period_s)
        now = time.monotonic()
        heat.turn(now - last)
        last = now
    return 0


if __name__ == "__main__":
    sys.exit(main())
