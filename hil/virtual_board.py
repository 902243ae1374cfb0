"""Fake sysfs/procfs trees of real boards, rooted where you like: the board layer's test
ground and the start of the virtual board.

Each layout copies what the real board shows (file names, units, NUL-terminated device
tree strings, zone and rail names, the odd -256 C zone), with the indices deliberately
not in the order a careless reader would assume, so a reader that goes by index fails
here as it would on the next board. A tree is a snapshot: values are written once
(:func:`set_value` changes one). ``marker=True`` adds the ``aisat-virtual-board`` file,
so detection reports the virtual board emulating that family.

    python -m hil.virtual_board jetson-orin-nano /tmp/vboard   # then: aisat board --root
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from flightsw.board.detect import VIRTUAL_MARKER

ORIN_NANO_THERMAL = [("cpu-thermal", 47_500), ("gpu-thermal", 46_000),
                     ("cv0-thermal", -256_000), ("cv1-thermal", -256_000),
                     ("cv2-thermal", -256_000), ("soc0-thermal", 45_800),
                     ("soc1-thermal", 46_200), ("soc2-thermal", 45_100),
                     ("tj-thermal", 48_100)]
XAVIER_NX_THERMAL = [("AO-therm", 39_500), ("CPU-therm", 41_000), ("GPU-therm", 40_000),
                     ("PLL-therm", 39_000), ("AUX-therm", 39_500), ("PMIC-Die", 100_000),
                     ("thermal-fan-est", 40_100), ("Tboard_tegra", 36_000),
                     ("Tdiode_tegra", 38_250)]
PI_THERMAL = [("cpu-thermal", 51_950)]
PI5_PMIC_ADC = """\
 3V7_WL_SW_I current(0)=0.00000000A
   3V3_SYS_I current(1)=0.05756760A
   1V8_SYS_I current(2)=0.16202300A
  DDR_VDD2_I current(3)=0.01025000A
  DDR_VDDQ_I current(4)=0.00000000A
   1V1_SYS_I current(5)=0.17568000A
   0V8_SYS_I current(6)=0.31377400A
  VDD_CORE_I current(7)=0.76000000A
 3V7_WL_SW_V volt(8)=3.71570500V
   3V3_SYS_V volt(9)=3.31601000V
   1V8_SYS_V volt(10)=1.80000000V
  DDR_VDD2_V volt(11)=1.11132800V
  DDR_VDDQ_V volt(12)=0.60668900V
   1V1_SYS_V volt(13)=1.10668900V
   0V8_SYS_V volt(14)=0.80000000V
  VDD_CORE_V volt(15)=0.78110000V
     EXT5V_V volt(24)=5.11808000V
      BATT_V volt(25)=0.00000000V
"""
"""A Pi 5's ``vcgencmd pmic_read_adc`` reply (an idle board)."""

ORIN_NANO_NVPMODEL = """\
# nvpmodel.conf for the Orin Nano 8GB module (abridged from JetPack 6)
< PARAM TYPE=FILE NAME=CPU_ONLINE >
CORE_0 /sys/devices/system/cpu/cpu0/online
CORE_1 /sys/devices/system/cpu/cpu1/online

< PARAM TYPE=CLOCK NAME=CPU_A78_0 >
FREQ_TABLE /sys/devices/system/cpu/cpu0/cpufreq/scaling_available_frequencies
MAX_FREQ /sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq
MIN_FREQ /sys/devices/system/cpu/cpu0/cpufreq/scaling_min_freq

< POWER_MODEL ID=0 NAME=15W >
CPU_ONLINE CORE_0 1
CPU_ONLINE CORE_1 1
CPU_A78_0 MIN_FREQ 729600
CPU_A78_0 MAX_FREQ 1510400
GPU MAX_FREQ 624750000

< POWER_MODEL ID=1 NAME=7W >
CPU_ONLINE CORE_0 1
CPU_ONLINE CORE_1 1
CPU_A78_0 MIN_FREQ 729600
CPU_A78_0 MAX_FREQ 960000
GPU MAX_FREQ 408000000

< PM_CONFIG DEFAULT=0 >
"""
XAVIER_NX_NVPMODEL = """\
< POWER_MODEL ID=0 NAME=MODE_15W_2CORE >
CPU_DENVER_0 MAX_FREQ 1907200
< POWER_MODEL ID=2 NAME=MODE_15W_6CORE >
CPU_DENVER_0 MAX_FREQ 1420800
< POWER_MODEL ID=3 NAME=MODE_10W_2CORE >
CPU_DENVER_0 MAX_FREQ 1500000
< POWER_MODEL ID=8 NAME=MODE_20W_6CORE >
CPU_DENVER_0 MAX_FREQ 1907200
< PM_CONFIG DEFAULT=2 >
"""
"""Module-specific mode tables: the same name has different ids on different modules."""

FAMILIES = ("jetson-orin-nano", "jetson-xavier-nx", "raspberry-pi-5", "raspberry-pi-4",
            "generic-linux")


def set_value(root: Path, rel: str, value: str | int) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{value}\n" if not isinstance(value, str) else value)
    return path


def _device_tree(root: Path, model: str, compatible: list[str]) -> None:
    set_value(root, "proc/device-tree/model", model + "\x00")
    set_value(root, "proc/device-tree/compatible", "".join(c + "\x00" for c in compatible))


def _thermal(root: Path, zones: list[tuple[str, int]]) -> None:
    # reversed: thermal_zone0 is the last name in the list, so index order is no guide
    for i, (name, milli) in enumerate(reversed(zones)):
        set_value(root, f"sys/class/thermal/thermal_zone{i}/type", name + "\n")
        set_value(root, f"sys/class/thermal/thermal_zone{i}/temp", milli)


def _cpus(root: Path, n: int, max_khz: int, cur_khz: int) -> None:
    for i in range(n):
        base = f"sys/devices/system/cpu/cpu{i}/cpufreq"
        set_value(root, f"{base}/scaling_cur_freq", cur_khz)
        set_value(root, f"{base}/scaling_max_freq", max_khz)
        set_value(root, f"{base}/cpuinfo_max_freq", max_khz)
        set_value(root, f"{base}/cpuinfo_min_freq", max_khz // 5)
    set_value(root, "proc/cpuinfo", "".join(f"processor\t: {i}\n\n" for i in range(n)))


def build_tree(root: Path | str, family: str, *, marker: bool = False) -> Path:
    """Write ``family``'s layout under ``root`` (created); returns the root."""
    base = Path(root)
    base.mkdir(parents=True, exist_ok=True)
    if family == "jetson-orin-nano":
        _device_tree(base, "NVIDIA Jetson Orin Nano Developer Kit",
                     ["nvidia,p3768-0000+p3767-0005", "nvidia,p3767-0005", "nvidia,tegra234"])
        set_value(base, "etc/nv_tegra_release",
                  "# R36 (release), REVISION: 3.0, GCID: 36923193, BOARD: generic, "
                  "EABI: aarch64, DATE: Fri Jul 19 23:24:25 UTC 2024\n")
        _thermal(base, ORIN_NANO_THERMAL)
        # an unrelated hwmon first, then the INA3221 with its channels out of label order
        set_value(base, "sys/class/hwmon/hwmon0/name", "cpu_thermal\n")
        hw = "sys/class/hwmon/hwmon1"
        set_value(base, f"{hw}/name", "ina3221\n")
        for n, (label, mv, ma) in enumerate([("VDD_SOC", 5072, 696), ("VDD_IN", 5080, 1432),
                                             ("VDD_CPU_GPU_CV", 5072, 384)], start=1):
            set_value(base, f"{hw}/in{n}_label", label + "\n")
            set_value(base, f"{hw}/in{n}_input", mv)
            set_value(base, f"{hw}/curr{n}_input", ma)
        set_value(base, f"{hw}/in7_input", 10)  # the shunt-sum channel: no label, ignored
        gpu = "sys/class/devfreq/17000000.gpu"
        set_value(base, f"{gpu}/cur_freq", 306_000_000)
        set_value(base, f"{gpu}/max_freq", 624_750_000)
        set_value(base, f"{gpu}/device/load", 125)
        set_value(base, "sys/class/devfreq/15340000.vic/cur_freq", 115_200_000)
        _cpus(base, 6, 1_510_400, 729_600)
        set_value(base, "etc/nvpmodel.conf", ORIN_NANO_NVPMODEL)
    elif family == "jetson-xavier-nx":
        _device_tree(base, "NVIDIA Jetson Xavier NX Developer Kit",
                     ["nvidia,p3509-0000+p3668-0001", "nvidia,tegra194"])
        set_value(base, "etc/nv_tegra_release",
                  "# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t186ref, "
                  "EABI: aarch64, DATE: Sat Feb 19 17:05:08 UTC 2022\n")
        _thermal(base, XAVIER_NX_THERMAL)
        iio = "sys/bus/iio/devices/iio:device0"
        for n, (label, mv, ma) in enumerate([("VDD_IN", 5016, 1120),
                                             ("VDD_CPU_GPU_CV", 5008, 280),
                                             ("VDD_SOC", 5008, 720)]):
            set_value(base, f"{iio}/rail_name_{n}", label + "\n")
            set_value(base, f"{iio}/in_voltage{n}_input", mv)
            set_value(base, f"{iio}/in_current{n}_input", ma)
        gpu = "sys/class/devfreq/17000000.gv11b"
        set_value(base, f"{gpu}/cur_freq", 114_750_000)
        set_value(base, f"{gpu}/max_freq", 1_109_250_000)
        set_value(base, f"{gpu}/device/load", 0)
        _cpus(base, 6, 1_907_200, 1_190_400)
        set_value(base, "etc/nvpmodel.conf", XAVIER_NX_NVPMODEL)
    elif family in ("raspberry-pi-5", "raspberry-pi-4"):
        five = family.endswith("5")
        _device_tree(base, f"Raspberry Pi {5 if five else 4} Model B Rev 1.{0 if five else 4}",
                     ["raspberrypi,5-model-b", "brcm,bcm2712"] if five
                     else ["raspberrypi,4-model-b", "brcm,bcm2711"])
        _thermal(base, PI_THERMAL)
        _cpus(base, 4, 2_400_000 if five else 1_800_000, 1_500_000 if five else 600_000)
    elif family == "generic-linux":
        _thermal(base, [("x86_pkg_temp", 55_000), ("acpitz", 27_800)])
        _cpus(base, 2, 3_000_000, 2_100_000)
    else:
        raise ValueError(f"no layout for {family!r}; choose from {', '.join(FAMILIES)}")
    if marker:
        set_value(base, VIRTUAL_MARKER, family + "\n")
        if family.startswith("raspberry-pi"):
            _install_vcgencmd(base, family)
    return base


def canned_vcgencmd(family: str, temp_c: float = 51.9,
                    throttled: int = 0x0) -> dict[tuple[str, ...], str]:
    """What a Pi's ``vcgencmd`` answers, keyed by argv (for an injected runner)."""
    replies: dict[tuple[str, ...], str] = {("vcgencmd", "measure_temp"): f"temp={temp_c:.1f}'C\n",
               ("vcgencmd", "get_throttled"): f"throttled={throttled:#x}\n"}
    if family == "raspberry-pi-5":
        replies[("vcgencmd", "pmic_read_adc")] = PI5_PMIC_ADC
    return replies


class FakeNvpmodel:
    """``nvpmodel`` on a fake tree, as an injectable command runner that keeps state:
    ``-q`` answers like the real one, ``-m ID`` takes ids from the tree's own
    nvpmodel.conf and applies the mode's CPU ceiling to every CPU's
    ``scaling_max_freq``; ``needs_reboot`` plays a mode change the real tool only
    schedules (the active mode stays as it was)."""

    def __init__(self, root: Path | str, *, needs_reboot: bool = False) -> None:
        from flightsw.board.actuate import read_mode_table

        self.root = Path(root)
        self.table = read_mode_table(self.root)
        self.active = self.table.default_id if self.table.default_id is not None else 0
        self.needs_reboot = needs_reboot
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> str:
        import subprocess

        args = list(argv)
        self.calls.append(args)
        if args[:1] != ["nvpmodel"]:
            raise FileNotFoundError(2, "No such file or directory", args[0] if args else "")
        if args[1:] == ["-q"]:
            mode = self.table.find(self.active)
            return f"NV Power Mode: {mode.name if mode else '?'}\n{self.active}\n"
        if len(args) == 3 and args[1] == "-m" and args[2].isdigit():
            mode = self.table.find(int(args[2]))
            if mode is None:
                raise subprocess.CalledProcessError(1, args, "", "NVPM ERROR: invalid mode")
            if self.needs_reboot:
                return "NVPM WARN: Reboot required for changing to this power mode\n"
            self.active = mode.id
            ceiling = next((v for p, k, v in mode.settings
                            if p.startswith("CPU_") and k == "MAX_FREQ"), None)
            if ceiling is not None:
                for f in sorted(self.root.glob(
                        "sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_max_freq")):
                    f.write_text(ceiling + "\n")
            return ""
        raise subprocess.CalledProcessError(2, args, "", "usage: nvpmodel [-m ID] [-q]")


SOFT_LIMIT_MILLI_C = 80_000  # a Pi's firmware caps the ARM clock (soft temperature limit)
THROTTLE_MILLI_C = 85_000  # and throttles hard
SINCE_BOOT_FILE = "aisat-virtual-board.throttled"
PMIC_FILE = "aisat-virtual-board.pmic_read_adc"
VCGENCMD = """#!/bin/sh
# A virtual Pi's vcgencmd (written by hil/virtual_board.py), answering from its live
# tree: measure_temp is the cpu-thermal zone; get_throttled sets the now bits from it
# (soft limit at 80 C, capped and throttled at 85 C) and keeps the since-boot bits in
# the tree until a reboot, as the firmware does; pmic_read_adc answers on a Pi 5.
# POSIX sh, not Python: it must answer within the board layer's 2 s, under qemu too.
ROOT={root}
t=
for z in "$ROOT"/sys/class/thermal/thermal_zone*; do
    [ "$(tr -d ' \\n' <"$z/type")" = cpu-thermal ] && t=$(tr -d ' \\n' <"$z/temp")
done
case "$1" in
measure_temp)
    d=$(((t + 50) / 100))  # tenths of a degree, rounded as the firmware shows them
    printf "temp=%d.%d'C\\n" $((d / 10)) $((d % 10)) ;;
get_throttled)
    now=0
    [ "$t" -ge {soft} ] && now=$((now | 8))
    [ "$t" -ge {hard} ] && now=$((now | 6))
    since=0
    [ -f "$ROOT/{since}" ] && since=$(cat "$ROOT/{since}")
    since=$((since | (now << 16)))
    echo "$since" >"$ROOT/{since}"
    printf 'throttled=0x%x\\n' $((now | since)) ;;
pmic_read_adc)
    [ -f "$ROOT/{pmic}" ] && exec cat "$ROOT/{pmic}"
    echo 'error=1 error_msg="Command not registered"' >&2; exit 255 ;;
*)
    echo 'error=1 error_msg="Command not registered"' >&2; exit 255 ;;
esac
"""


def _install_vcgencmd(root: Path, family: str) -> None:
    """The tree's own ``usr/bin/vcgencmd`` (what :func:`flightsw.board.vcgencmd.
    tree_runner` runs for a virtual board)."""
    script = root / "usr/bin/vcgencmd"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(VCGENCMD.format(root=shlex.quote(str(root.resolve())),
                                      soft=SOFT_LIMIT_MILLI_C, hard=THROTTLE_MILLI_C,
                                      since=SINCE_BOOT_FILE, pmic=PMIC_FILE))
    script.chmod(0o755)
    if family == "raspberry-pi-5":
        set_value(root, PMIC_FILE, PI5_PMIC_ADC)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] not in FAMILIES:
        print(f"usage: python -m hil.virtual_board {{{','.join(FAMILIES)}}} ROOT",
              file=sys.stderr)
        return 2
    print(build_tree(args[1], args[0], marker=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
