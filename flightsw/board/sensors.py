"""A board's own sensors, read from sysfs under a root directory, found by name.

Index numbers mean nothing across boards or even kernel releases (``thermal_zone1`` is
the GPU on one Jetson and the CPU on another; INA3221 channel 1 is VDD_IN on an Orin
Nano but the order is not a contract), so every reading is found by the name the
kernel gives it:

- thermal zones: ``/sys/class/thermal/thermal_zone*/type`` names, ``temp`` in m°C. An
  unreadable zone, or one at -256 °C (what Tegra reports for a zone whose cluster is
  powered off), is *offline*, reported with the reason, never a number;
- power rails (Jetson INA3221): hwmon (``/sys/class/hwmon/hwmon*/name`` = ``ina3221``,
  ``in*_label`` = ``VDD_IN``, ``VDD_CPU_GPU_CV``, ``VDD_SOC``, the same index's
  ``in*_input`` mV and ``curr*_input`` mA; JetPack 5.1+/6) or the older iio layout
  (``/sys/bus/iio/devices/iio:device*/rail_name_N``, ``in_voltageN_input`` mV,
  ``in_currentN_input`` mA; JetPack 4.x/5.0);
- GPU load: devfreq devices whose name says GPU (``17000000.gpu``, ``17000000.ga10b``,
  ``57000000.gpu``, ``*.gv11b``): ``cur_freq``/``max_freq`` Hz, and the load in per
  mille from ``device/load`` where the driver offers it;
- CPU clocks: ``/sys/devices/system/cpu/cpuN/cpufreq/scaling_cur_freq``,
  ``scaling_max_freq``, ``cpuinfo_max_freq`` in kHz;
- on a Raspberry Pi, the firmware's view (:mod:`flightsw.board.vcgencmd`).

jetson-stats (jtop) reads all this and more, and is well kept, but we read it ourselves:
it is AGPL-3.0 (the flight software is Apache-2.0); it reads through a root service
(``jtop.service``) over a socket, so a reading depends on a daemon we do not supervise
and arrives at the service's rate (1 Hz by default); it is Jetson-only (a Pi needs its
own reader anyway); and it reads fixed paths under ``/``, so CI could not run it on a
fake tree. What we need is a few dozen files found by name: a small reader with a root
parameter is less code than the adapter jtop would need, and the same code runs on the
board, on the virtual board and in CI.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from flightsw.board.detect import Board, read_text
from flightsw.board.vcgencmd import CommandRunner, PiFirmware, read_firmware, run_command

OFFLINE_MILLI_C = -256_000
"""Tegra's "this zone's cluster is off" value."""
GPU_DEVFREQ_NAMES = re.compile(r"(gpu|ga10b|gv11b|gp10b|gm20b)", re.IGNORECASE)
JETSON_RAILS = ("VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC")


@dataclass(frozen=True)
class ThermalZone:
    name: str  # the kernel's type, e.g. "cpu-thermal"
    zone: str  # the directory, for people: "thermal_zone3"
    temp_c: float  # NaN when offline
    offline: str = ""  # why there is no reading


@dataclass(frozen=True)
class Rail:
    name: str  # the INA3221 label, e.g. "VDD_IN"
    voltage_v: float
    current_a: float
    source: str  # hwmon | iio | pmic

    @property
    def power_w(self) -> float:
        return self.voltage_v * self.current_a


@dataclass(frozen=True)
class Gpu:
    device: str
    load_frac: float  # NaN where the driver does not say
    cur_freq_hz: float
    max_freq_hz: float


@dataclass(frozen=True)
class CpuClock:
    cpu: int
    cur_khz: float
    scaling_max_khz: float
    hw_max_khz: float


@dataclass
class BoardSensors:
    """One reading of a board; ``problems`` says what could not be read and why."""

    thermal: list[ThermalZone] = field(default_factory=list)
    rails: list[Rail] = field(default_factory=list)
    gpus: list[Gpu] = field(default_factory=list)
    cpus: list[CpuClock] = field(default_factory=list)
    firmware: PiFirmware | None = None
    problems: list[str] = field(default_factory=list)

    def zone(self, name: str) -> ThermalZone | None:
        return next((z for z in self.thermal if z.name == name), None)

    def rail(self, name: str) -> Rail | None:
        return next((r for r in self.rails if r.name == name), None)

    @property
    def hottest_c(self) -> float:
        """The hottest online zone (the compute's temperature for the throttle)."""
        temps = [z.temp_c for z in self.thermal if not z.offline]
        if self.firmware is not None and not math.isnan(self.firmware.temp_c):
            temps.append(self.firmware.temp_c)
        return max(temps) if temps else math.nan

    @property
    def input_power_w(self) -> float:
        """The board's input power: VDD_IN where it exists, else the PMIC rails' sum."""
        rail = self.rail("VDD_IN")
        if rail is not None:
            return rail.power_w
        if self.firmware is not None:
            return self.firmware.power_w
        return math.nan

    def to_dict(self) -> dict[str, object]:
        fw = self.firmware
        return {
            "thermal": [{"name": z.name, "zone": z.zone, "temp_c": z.temp_c,
                         "offline": z.offline} for z in self.thermal],
            "rails": [{"name": r.name, "voltage_v": r.voltage_v, "current_a": r.current_a,
                       "power_w": r.power_w, "source": r.source} for r in self.rails],
            "gpus": [{"device": g.device, "load_frac": g.load_frac,
                      "cur_freq_hz": g.cur_freq_hz, "max_freq_hz": g.max_freq_hz}
                     for g in self.gpus],
            "cpus": [{"cpu": c.cpu, "cur_khz": c.cur_khz, "scaling_max_khz": c.scaling_max_khz,
                      "hw_max_khz": c.hw_max_khz} for c in self.cpus],
            "firmware": None if fw is None else {
                "temp_c": fw.temp_c,
                "throttled_now": sorted(fw.throttled.now) if fw.throttled else None,
                "throttled_since_boot": sorted(fw.throttled.since_boot)
                if fw.throttled else None,
                "power_w": fw.power_w},
            "hottest_c": self.hottest_c, "input_power_w": self.input_power_w,
            "problems": list(self.problems)}


def _number(path: Path, problems: list[str]) -> float | None:
    text = read_text(path, problems)
    if text is None:
        return None
    try:
        return float(text.strip())
    except ValueError:
        problems.append(f"{path}: not a number: {text.strip()[:40]!r}")
        return None


def _index(name: str) -> int:
    m = re.search(r"(\d+)$", name)
    return int(m.group(1)) if m else -1


def _dirs(parent: Path, pattern: str) -> list[Path]:
    try:
        return sorted(parent.glob(pattern), key=lambda p: (_index(p.name), p.name))
    except OSError:
        return []


def read_thermal(root: Path, problems: list[str]) -> list[ThermalZone]:
    zones: list[ThermalZone] = []
    for d in _dirs(root / "sys/class/thermal", "thermal_zone*"):
        name = (read_text(d / "type", problems) or "").strip()
        if not name:
            problems.append(f"{d}: zone without a type: ignored (found by name only)")
            continue
        text = read_text(d / "temp", [])
        if text is None:
            zones.append(ThermalZone(name, d.name, math.nan, "temp unreadable"))
            continue
        try:
            milli = int(text.strip())
        except ValueError:
            zones.append(ThermalZone(name, d.name, math.nan, f"temp {text.strip()[:20]!r}"))
            continue
        if milli <= OFFLINE_MILLI_C:
            zones.append(ThermalZone(name, d.name, math.nan, "offline (-256 C)"))
        else:
            zones.append(ThermalZone(name, d.name, milli / 1000.0))
    return zones


def read_rails(root: Path, problems: list[str]) -> list[Rail]:
    """INA3221 rails by label, from hwmon, else from the older iio layout."""
    rails: list[Rail] = []
    for hw in _dirs(root / "sys/class/hwmon", "hwmon*"):
        if (read_text(hw / "name", problems) or "").strip() != "ina3221":
            continue
        for label_file in sorted(hw.glob("in*_label")):
            n = label_file.name[2:-len("_label")]
            label = (read_text(label_file, problems) or "").strip()
            mv = _number(hw / f"in{n}_input", problems)
            ma = _number(hw / f"curr{n}_input", problems)
            if label and mv is not None and ma is not None:
                rails.append(Rail(label, mv / 1000.0, ma / 1000.0, "hwmon"))
    if rails:
        return rails
    for dev in _dirs(root / "sys/bus/iio/devices", "iio:device*"):
        for name_file in sorted(dev.glob("rail_name_*")):
            n = name_file.name[len("rail_name_"):]
            label = (read_text(name_file, problems) or "").strip()
            mv = _number(dev / f"in_voltage{n}_input", problems)
            ma = _number(dev / f"in_current{n}_input", problems)
            if label and mv is not None and ma is not None:
                rails.append(Rail(label, mv / 1000.0, ma / 1000.0, "iio"))
    return rails


def read_gpus(root: Path, problems: list[str]) -> list[Gpu]:
    gpus: list[Gpu] = []
    for d in _dirs(root / "sys/class/devfreq", "*"):
        if not GPU_DEVFREQ_NAMES.search(d.name):
            continue
        cur = _number(d / "cur_freq", problems)
        top = _number(d / "max_freq", problems)
        load = _number(d / "device/load", [])  # per mille, where the driver has it
        gpus.append(Gpu(d.name, math.nan if load is None else load / 1000.0,
                        math.nan if cur is None else cur, math.nan if top is None else top))
    return gpus


def read_cpus(root: Path, problems: list[str]) -> list[CpuClock]:
    cpus: list[CpuClock] = []
    for d in _dirs(root / "sys/devices/system/cpu", "cpu[0-9]*"):
        freq = d / "cpufreq"
        if not freq.is_dir():
            continue
        cur = _number(freq / "scaling_cur_freq", problems)
        smax = _number(freq / "scaling_max_freq", problems)
        hmax = _number(freq / "cpuinfo_max_freq", problems)
        cpus.append(CpuClock(_index(d.name), math.nan if cur is None else cur,
                             math.nan if smax is None else smax,
                             math.nan if hmax is None else hmax))
    return cpus


def read_board(board: Board, runner: CommandRunner = run_command) -> BoardSensors:
    """Everything the board's profile says to read, under the board's root."""
    root = Path(board.root)
    out = BoardSensors()
    wanted = board.effective.sensors
    if "thermal" in wanted:
        out.thermal = read_thermal(root, out.problems)
    if "ina3221" in wanted:
        out.rails = read_rails(root, out.problems)
        missing = [r for r in JETSON_RAILS if out.rail(r) is None]
        if missing:
            out.problems.append(f"INA3221 rails not found: {', '.join(missing)}")
    if "gpu-devfreq" in wanted:
        out.gpus = read_gpus(root, out.problems)
    if "cpufreq" in wanted:
        out.cpus = read_cpus(root, out.problems)
    if "vcgencmd" in wanted:
        out.firmware = read_firmware(runner, pmic="pmic_read_adc" in wanted)
        out.problems += out.firmware.problems
        out.rails += [Rail(n, v, a, "pmic") for n, v, a in out.firmware.rails]
    return out


__all__ = ["BoardSensors", "CpuClock", "Gpu", "Rail", "ThermalZone", "read_board",
           "read_cpus", "read_gpus", "read_rails", "read_thermal"]
