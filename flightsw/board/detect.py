"""Which board is this, and which profile do we fly it with?

Read from the same places a person would look, under a ``root`` directory so tests use
fake trees: the device tree's ``model`` (a human name, e.g. "NVIDIA Jetson Orin Nano
Developer Kit") and ``compatible`` (NUL-separated, most specific first, e.g.
``nvidia,p3768-0000+p3767-0005``, ``nvidia,p3767-0005``, ``nvidia,tegra234``), and on a
Jetson ``/etc/nv_tegra_release`` (the L4T release, e.g. "# R36 (release), REVISION:
3.0, ..."). Module part numbers decide between Jetsons that share a SoC (p3767-0000/0001
are Orin NX, -0003/-0004/-0005 Orin Nano; p3668 is Xavier NX), as NVIDIA's own
``jetson_release`` does; the model string is the fallback.

The profiles are data (:data:`PROFILES`): the first whose rule matches wins, so adding a
board is a row. A tree with an ``aisat-virtual-board`` file at its root is the virtual
board (a fake tree made for CI): it is reported as virtual, with the family it emulates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

VIRTUAL_MARKER = "aisat-virtual-board"
MODEL_FILES = ("proc/device-tree/model", "sys/firmware/devicetree/base/model")
COMPATIBLE_FILES = ("proc/device-tree/compatible", "sys/firmware/devicetree/base/compatible")
TEGRA_RELEASE = "etc/nv_tegra_release"
MAX_READ_BYTES = 4096


@dataclass(frozen=True)
class Profile:
    """A board profile: what to call it, its family, and what to read and actuate."""

    name: str
    family: str  # jetson | raspberry-pi | generic-linux | virtual
    description: str
    compatible: str = ""  # regex searched in each compatible string
    model: str = ""  # regex searched in the model string (fallback)
    sensors: tuple[str, ...] = ("thermal", "cpufreq")
    actuators: tuple[str, ...] = ("cpufreq",)


JETSON_SENSORS = ("thermal", "ina3221", "gpu-devfreq", "cpufreq")
JETSON_ACTUATORS = ("nvpmodel", "cpufreq")
PI_SENSORS = ("thermal", "vcgencmd", "cpufreq")

PROFILES: tuple[Profile, ...] = (
    Profile("jetson-orin-nx", "jetson", "NVIDIA Jetson Orin NX (tegra234, p3767-0000/0001)",
            compatible=r"^nvidia,(p\d{4}-\d{4}\+)?p3767-000[01]$", model=r"Orin NX",
            sensors=JETSON_SENSORS, actuators=JETSON_ACTUATORS),
    Profile("jetson-orin-nano", "jetson", "NVIDIA Jetson Orin Nano (tegra234, p3767-0003..5)",
            compatible=r"^nvidia,(p\d{4}-\d{4}\+)?p3767-000[345]$", model=r"Orin Nano",
            sensors=JETSON_SENSORS, actuators=JETSON_ACTUATORS),
    Profile("jetson-xavier-nx", "jetson", "NVIDIA Jetson Xavier NX (tegra194, p3668)",
            compatible=r"^nvidia,(p\d{4}-\d{4}\+)?p3668", model=r"Xavier NX",
            sensors=JETSON_SENSORS, actuators=JETSON_ACTUATORS),
    Profile("jetson-other", "jetson", "an NVIDIA Jetson this table does not name",
            compatible=r"^nvidia,tegra", model=r"Jetson",
            sensors=JETSON_SENSORS, actuators=JETSON_ACTUATORS),
    Profile("raspberry-pi-5", "raspberry-pi", "Raspberry Pi 5 (bcm2712)",
            compatible=r"^(raspberrypi,5-|brcm,bcm2712$)", model=r"Raspberry Pi 5",
            sensors=(*PI_SENSORS, "pmic_read_adc")),
    Profile("raspberry-pi-4", "raspberry-pi", "Raspberry Pi 4 (bcm2711)",
            compatible=r"^(raspberrypi,4-|brcm,bcm2711$)", model=r"Raspberry Pi 4",
            sensors=PI_SENSORS),
)
GENERIC = Profile("generic-linux", "generic-linux", "a Linux computer without a known board")
VIRTUAL = Profile("virtual", "virtual", "the virtual board (a fake sysfs/procfs tree)")
UNKNOWN = Profile("none", "none", "no Linux tree under this root: nothing to read")


@dataclass(frozen=True)
class Board:
    """What was found under ``root`` and the profile that will be used."""

    root: str
    profile: Profile
    model: str = ""
    compatible: tuple[str, ...] = ()
    l4t_release: str = ""
    emulates: str = ""  # the virtual board: the profile whose layout it copies
    matched_by: str = ""  # compatible | model | nv_tegra_release | linux | marker | nothing
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def family(self) -> str:
        return self.profile.family

    @property
    def virtual(self) -> bool:
        return self.profile is VIRTUAL or bool(self.emulates)

    @property
    def effective(self) -> Profile:
        """The profile whose sensors and actuators are used: the emulated one on the
        virtual board (an unknown name there falls back to generic Linux)."""
        if not self.emulates:
            return self.profile
        try:
            return profile_named(self.emulates)
        except ValueError:
            return GENERIC

    def to_dict(self) -> dict[str, object]:
        return {"root": self.root, "profile": self.profile.name, "family": self.family,
                "description": self.profile.description, "model": self.model,
                "compatible": list(self.compatible), "l4t_release": self.l4t_release,
                "emulates": self.emulates, "matched_by": self.matched_by,
                "sensors": list(self.effective.sensors),
                "actuators": list(self.effective.actuators), "problems": list(self.problems)}


def read_text(path: Path, problems: list[str] | None = None) -> str | None:
    """A small sysfs/procfs file's text, or None if it is absent or unreadable (the
    reason goes to ``problems`` unless the file simply does not exist)."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_READ_BYTES)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if problems is not None:
            problems.append(f"{path}: {exc.strerror or exc}")
        return None
    return data.decode("utf-8", "replace")


def _first(root: Path, names: tuple[str, ...], problems: list[str]) -> str | None:
    for name in names:
        text = read_text(root / name, problems)
        if text is not None:
            return text
    return None


def parse_l4t_release(text: str) -> str:
    """``R36.3.0`` from "# R36 (release), REVISION: 3.0, ..."; "" if it is not that."""
    m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    return f"R{m.group(1)}.{m.group(2)}" if m else ""


def match_profile(compatible: tuple[str, ...], model: str) -> tuple[Profile | None, str]:
    for prof in PROFILES:  # compatible strings first: they are the precise identity
        if prof.compatible and any(re.search(prof.compatible, c) for c in compatible):
            return prof, "compatible"
    for prof in PROFILES:
        if prof.model and re.search(prof.model, model):
            return prof, "model"
    return None, ""


def profile_named(name: str) -> Profile:
    for prof in (*PROFILES, GENERIC, VIRTUAL):
        if prof.name == name:
            return prof
    names = ", ".join(p.name for p in (*PROFILES, GENERIC, VIRTUAL))
    raise ValueError(f"unknown board profile {name!r}; known: {names}")


def detect(root: Path | str = "/") -> Board:
    """Detect the board under ``root``; never raises for a missing or odd file."""
    base = Path(root)
    problems: list[str] = []
    model = (_first(base, MODEL_FILES, problems) or "").strip("\x00\n ")
    compat_text = _first(base, COMPATIBLE_FILES, problems) or ""
    compatible = tuple(c.strip() for c in compat_text.split("\x00") if c.strip())
    tegra = read_text(base / TEGRA_RELEASE, problems)
    l4t = parse_l4t_release(tegra) if tegra else ""
    if tegra is not None and not l4t:
        problems.append(f"{base / TEGRA_RELEASE}: not an L4T release line: {tegra[:60]!r}")
    prof, how = match_profile(compatible, model)
    if prof is None and tegra is not None:
        prof, how = profile_named("jetson-other"), "nv_tegra_release"
    marker = read_text(base / VIRTUAL_MARKER, problems)
    if marker is not None:
        emulates = prof.name if prof else (marker.strip() or GENERIC.name)
        return Board(str(base), VIRTUAL, model, compatible, l4t, emulates, "marker",
                     tuple(problems))
    if prof is None:
        linux = (base / "proc").is_dir() or (base / "sys").is_dir()
        prof, how = (GENERIC, "linux") if linux else (UNKNOWN, "nothing")
    return Board(str(base), prof, model, compatible, l4t, "", how, tuple(problems))


__all__ = ["GENERIC", "PROFILES", "VIRTUAL", "Board", "Profile", "detect",
           "match_profile", "parse_l4t_release", "profile_named", "read_text"]
