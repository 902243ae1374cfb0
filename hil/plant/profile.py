"""Spacecraft profiles: one TOML file per spacecraft, read strictly into frozen dataclasses.

Every number in a shipped profile carries its source in a comment next to it. Loading is
strict on purpose: an unknown key, a missing key or a value out of its physical range is
a :class:`ProfileError` naming the file, the key and the problem, because a silently
ignored typo (``are_m2``) would fly a different spacecraft than the one described.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hil.plant.errors import ProfileError

if TYPE_CHECKING:
    from ground.link_physics import LinkPhysics

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

PROFILE_DIR = Path(__file__).resolve().parent.parent / "profiles"
DEFAULT_PROFILE = "cubesat-jetson"

#: The keys the executive reads from ``[flight]``; every profile has exactly these.
FLIGHT_KEYS: tuple[str, ...] = (
    "payload_temp_target_c",
    "payload_temp_warn_c",
    "payload_temp_max_c",
    "battery_soc_safe_frac",
    "battery_soc_resume_frac",
    "battery_soc_compute_frac",
    "battery_soc_floor_frac",
    "capture_period_s",
    "tiles_per_capture",
)

#: Node names the plant wires loads to; a profile may add more nodes.
REQUIRED_NODES: tuple[str, ...] = ("payload", "avionics", "battery", "radiator", "array")

#: How a surface is oriented; see :mod:`hil.plant.environment` for the geometry.
FACINGS: tuple[str, ...] = (
    "sun",
    "anti_sun",
    "zenith",
    "nadir",
    "side",
    "orbit_normal",
    "anti_orbit_normal",
)
ARRAY_MOUNTINGS: tuple[str, ...] = ("sun_tracking", "zenith", "orbit_normal")

_DERIVE = "derive"


@dataclass(frozen=True)
class Station:
    """A ground station: geodetic position and the elevation mask below which it is blind."""

    name: str
    lat_deg: float
    lon_deg: float
    alt_m: float
    min_elevation_deg: float


@dataclass(frozen=True)
class OrbitSpec:
    """Either a TLE (propagated with SGP4) or mean elements (two-body + J2 secular)."""

    tle: tuple[str, str] | None
    altitude_km: float
    eccentricity: float
    inclination_deg: float | None  # None: derived for sun-synchronism
    sun_synchronous: bool
    ltan_h: float | None  # local time of the ascending node; sets RAAN for an SSO
    raan_deg: float | None
    arg_perigee_deg: float
    mean_anomaly_deg: float
    j2: bool


@dataclass(frozen=True)
class ArraySpec:
    """Solar arrays: cell area, efficiency chain and how they point."""

    area_m2: float
    cell_efficiency: float
    packing_factor: float
    mounting: str
    temp_coeff_per_c: float  # relative change of power per kelvin (negative)
    ref_temp_c: float
    degradation_per_year: float
    age_years: float


@dataclass(frozen=True)
class BatterySpec:
    """A lithium-ion pack described at pack level, with a per-cell OCV curve."""

    capacity_wh: float
    series_cells: int
    internal_resistance_ohm: float  # at 25 C
    resistance_temp_coeff_per_c: float  # relative increase per kelvin below 25 C
    charge_efficiency: float
    discharge_efficiency: float
    max_charge_current_a: float
    max_discharge_current_a: float
    charge_min_temp_c: float  # no charging below this
    cold_charge_temp_c: float  # reduced charge current below this
    cold_charge_rate_frac: float
    initial_soc_frac: float
    ocv_soc_frac: tuple[float, ...]
    ocv_cell_v: tuple[float, ...]
    charge_max_cell_v: float = 4.20  # constant-voltage limit of one cell at the terminals
    charge_max_temp_c: float = 45.0  # no charging above this (the hot charge limit)


@dataclass(frozen=True)
class LoadSpec:
    """Switchable loads on the power bus, in watts."""

    payload_idle_w: float
    payload_max_w: float
    avionics_w: float
    radio_rx_w: float
    radio_tx_w: float


@dataclass(frozen=True)
class HeaterSpec:
    name: str
    node: str
    power_w: float


@dataclass(frozen=True)
class NodeSpec:
    name: str
    heat_capacity_j_per_k: float
    initial_temp_c: float
    max_temp_c: float | None
    min_temp_c: float | None


@dataclass(frozen=True)
class SurfaceSpec:
    node: str
    area_m2: float
    facing: str
    absorptivity: float
    emissivity: float


@dataclass(frozen=True)
class LinkSpec:
    a: str
    b: str
    conductance_w_per_k: float
    # A thermostatic bypass valve on a pumped loop (self-acting, no flight software): the
    # loop's conductance falls linearly from full with node ``a`` at ``valve_open_c`` to
    # a leak at ``valve_closed_c``, so a radiator sized for full load cannot freeze the
    # node it cools when the load is light. None: a plain conductive link.
    valve_closed_c: float | None = None
    valve_open_c: float | None = None


@dataclass(frozen=True)
class ThermalSpec:
    nodes: tuple[NodeSpec, ...]
    surfaces: tuple[SurfaceSpec, ...]
    links: tuple[LinkSpec, ...]
    sink_temp_k: float

    def node_index(self, name: str) -> int:
        for i, node in enumerate(self.nodes):
            if node.name == name:
                return i
        raise KeyError(name)


@dataclass(frozen=True)
class EnvironmentSpec:
    """Sun and Earth radiation constants (DESIGN.md facts)."""

    solar_constant_w_m2: float = 1361.0
    albedo: float = 0.30
    earth_ir_w_m2: float = 237.0


@dataclass(frozen=True)
class Profile:
    """Everything that makes one simulated spacecraft different from another."""

    name: str
    description: str
    source: str
    epoch_utc_s: float
    mass_kg: float
    orbit: OrbitSpec
    array: ArraySpec
    battery: BatterySpec
    loads: LoadSpec
    heaters: tuple[HeaterSpec, ...]
    thermal: ThermalSpec
    environment: EnvironmentSpec
    flight: dict[str, Any]  # the executive's FlightConfig as a mapping (numbers, heaters)
    stations: tuple[Station, ...]
    derived: dict[str, float] = field(default_factory=dict)
    link: LinkPhysics | None = None  # the space link's physics ([link]; None: ideal)

    @property
    def payload_time_constant_s(self) -> float:
        """The payload node's thermal time constant C / G_total at its target temperature.

        G_total is the sum of its conductive links plus its own linearised radiation
        (4 eps sigma A T^3); the throttle uses it to anticipate heating.
        """
        return self.derived["payload_time_constant_s"]


def list_profiles() -> list[str]:
    """Names of the shipped profiles (the TOML files in ``hil/profiles``), default first."""
    names = sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))
    if DEFAULT_PROFILE in names:
        names.remove(DEFAULT_PROFILE)
        names.insert(0, DEFAULT_PROFILE)
    return names


def load_profile(name_or_path: str | Path = DEFAULT_PROFILE) -> Profile:
    """Load a shipped profile by name, or any profile file by path."""
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith(".toml") or path.is_file()):
        path = PROFILE_DIR / f"{text}.toml"
        if not path.is_file():
            raise ProfileError(
                f"unknown profile {text!r}; valid profiles: {', '.join(list_profiles())}",
                source=text,
            )
    if not path.is_file():
        raise ProfileError("no such profile file", source=str(path))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"cannot read: {exc}", source=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"not valid TOML: {exc}", source=str(path)) from exc
    return parse_profile(data, source=str(path))


def parse_profile(data: Mapping[str, Any], *, source: str = "<profile>") -> Profile:
    """Build a :class:`Profile` from already-parsed TOML (tests use this directly)."""
    from hil.plant.sizing import derive_profile  # sizing needs the orbit model

    root = _Reader(data, source, "")
    sc = root.table("spacecraft")
    name = sc.text("name")
    description = sc.text("description", default="")
    mass_kg = sc.num("mass_kg", lo=0.0, strict_lo=True)
    epoch_utc_s = sc.epoch("epoch_utc")
    sc.finish()

    orbit = _orbit(root.table("orbit"))
    array_r = root.table("array")
    array = ArraySpec(
        area_m2=array_r.num_or_derive("area_m2", lo=0.0, strict_lo=True),
        cell_efficiency=array_r.num("cell_efficiency", lo=0.0, hi=1.0, strict_lo=True),
        packing_factor=array_r.num("packing_factor", lo=0.0, hi=1.0, strict_lo=True),
        mounting=array_r.choice("mounting", ARRAY_MOUNTINGS),
        temp_coeff_per_c=array_r.num("temp_coeff_per_c", lo=-0.05, hi=0.0),
        ref_temp_c=array_r.num("ref_temp_c", default=28.0),
        degradation_per_year=array_r.num("degradation_per_year", lo=0.0, hi=0.5),
        age_years=array_r.num("age_years", lo=0.0, default=0.0),
    )
    array_r.finish()

    battery = _battery(root.table("battery"))
    loads_r = root.table("loads")
    loads = LoadSpec(
        payload_idle_w=loads_r.num("payload_idle_w", lo=0.0),
        payload_max_w=loads_r.num("payload_max_w", lo=0.0, strict_lo=True),
        avionics_w=loads_r.num("avionics_w", lo=0.0),
        radio_rx_w=loads_r.num("radio_rx_w", lo=0.0),
        radio_tx_w=loads_r.num("radio_tx_w", lo=0.0),
    )
    loads_r.finish()
    if loads.payload_idle_w > loads.payload_max_w:
        raise ProfileError(
            "payload_idle_w must not exceed payload_max_w", source=source, key="loads"
        )

    thermal = _thermal(root.table("thermal"))
    node_names = {n.name for n in thermal.nodes}
    heaters = []
    for h in root.tables("heaters", required=False):
        heaters.append(
            HeaterSpec(
                name=h.text("name"),
                node=h.choice("node", tuple(sorted(node_names))),
                power_w=h.num("power_w", lo=0.0, strict_lo=True),
            )
        )
        h.finish()

    env_r = root.table("environment", required=False)
    environment = EnvironmentSpec(
        solar_constant_w_m2=env_r.num("solar_constant_w_m2", lo=1000.0, hi=1500.0, default=1361.0),
        albedo=env_r.num("albedo", lo=0.0, hi=1.0, default=0.30),
        earth_ir_w_m2=env_r.num("earth_ir_w_m2", lo=0.0, hi=400.0, default=237.0),
    )
    env_r.finish()

    flight = _flight(root.table("flight"), thermal, battery, tuple(heaters))
    link_physics = _space_link(root, source)
    # the flight paces its downlink to the radio: the same numbers, from one place
    if link_physics.down.rate_bps:
        flight["downlink_rate_bps"] = link_physics.down.rate_bps
    if link_physics.relay is not None:
        flight["relay_rate_bps"] = link_physics.relay.rate_bps or 1e9
    stations = []
    for s in root.tables("stations"):
        stations.append(
            Station(
                name=s.text("name"),
                lat_deg=s.num("lat_deg", lo=-90.0, hi=90.0),
                lon_deg=s.num("lon_deg", lo=-180.0, hi=360.0),
                alt_m=s.num("alt_m", lo=-500.0, hi=9000.0),
                min_elevation_deg=s.num("min_elevation_deg", lo=-5.0, hi=90.0),
            )
        )
        s.finish()
    if not stations:
        raise ProfileError("at least one ground station is required", source=source, key="stations")
    sizing = root.table("sizing", required=False)
    sizing_inputs = {k: sizing.num(k) for k in list(sizing.keys())}
    sizing.finish()
    root.finish()

    profile = Profile(
        name=name,
        description=description,
        source=source,
        epoch_utc_s=epoch_utc_s,
        mass_kg=mass_kg,
        orbit=orbit,
        array=array,
        battery=battery,
        loads=loads,
        heaters=tuple(heaters),
        thermal=thermal,
        environment=environment,
        flight=flight,
        stations=tuple(stations),
        link=link_physics,
    )
    return derive_profile(profile, sizing_inputs)


def _space_link(root: _Reader, source: str) -> LinkPhysics:
    """The ``[link]`` table (the space link's physics: latency, rates, loss ...), parsed
    strictly by the station emulator's own schema
    (:func:`ground.link_physics.parse_link`); no table: an ideal link."""
    from ground.link_physics import parse_link

    table = root._get("link", {})
    try:
        return parse_link(table)
    except ValueError as exc:
        raise ProfileError(str(exc), source=source, key="link") from exc


def _orbit(r: _Reader) -> OrbitSpec:
    tle = r.strings("tle", default=None)
    if tle is not None and len(tle) != 2:
        raise ProfileError("tle must be a list of two lines", source=r.source, key=r.path("tle"))
    sso = r.boolean("sun_synchronous", default=False)
    spec = OrbitSpec(
        tle=(tle[0], tle[1]) if tle is not None else None,
        altitude_km=r.num("altitude_km", lo=150.0, hi=40000.0, default=0.0 if tle else _MISSING),
        eccentricity=r.num("eccentricity", lo=0.0, hi=0.9, default=0.0),
        inclination_deg=r.num("inclination_deg", lo=0.0, hi=180.0, default=None),
        sun_synchronous=sso,
        ltan_h=r.num("ltan_h", lo=0.0, hi=24.0, default=None),
        raan_deg=r.num("raan_deg", lo=-360.0, hi=360.0, default=None),
        arg_perigee_deg=r.num("arg_perigee_deg", lo=-360.0, hi=360.0, default=0.0),
        mean_anomaly_deg=r.num("mean_anomaly_deg", lo=-360.0, hi=360.0, default=0.0),
        j2=r.boolean("j2", default=True),
    )
    r.finish()
    if spec.tle is None:
        if sso and spec.inclination_deg is not None:
            raise ProfileError(
                "give either sun_synchronous = true or inclination_deg, not both",
                source=r.source,
                key=r.path("inclination_deg"),
            )
        if not sso and spec.inclination_deg is None:
            raise ProfileError(
                "inclination_deg is required unless sun_synchronous = true",
                source=r.source,
                key=r.path("inclination_deg"),
            )
        if (spec.ltan_h is None) == (spec.raan_deg is None):
            raise ProfileError(
                "give exactly one of ltan_h and raan_deg", source=r.source, key=r.path("ltan_h")
            )
    return spec


def _battery(r: _Reader) -> BatterySpec:
    spec = BatterySpec(
        capacity_wh=r.num("capacity_wh", lo=0.0, strict_lo=True),
        series_cells=int(r.num("series_cells", lo=1.0, hi=1000.0)),
        internal_resistance_ohm=r.num("internal_resistance_ohm", lo=0.0, strict_lo=True),
        resistance_temp_coeff_per_c=r.num("resistance_temp_coeff_per_c", lo=0.0, hi=0.2),
        charge_efficiency=r.num("charge_efficiency", lo=0.5, hi=1.0),
        discharge_efficiency=r.num("discharge_efficiency", lo=0.5, hi=1.0),
        max_charge_current_a=r.num("max_charge_current_a", lo=0.0, strict_lo=True),
        max_discharge_current_a=r.num("max_discharge_current_a", lo=0.0, strict_lo=True),
        charge_min_temp_c=r.num("charge_min_temp_c", lo=-40.0, hi=40.0),
        cold_charge_temp_c=r.num("cold_charge_temp_c", lo=-40.0, hi=45.0),
        cold_charge_rate_frac=r.num("cold_charge_rate_frac", lo=0.0, hi=1.0),
        initial_soc_frac=r.num("initial_soc_frac", lo=0.0, hi=1.0),
        ocv_soc_frac=tuple(r.numbers("ocv_soc_frac")),
        ocv_cell_v=tuple(r.numbers("ocv_cell_v")),
        charge_max_cell_v=r.num("charge_max_cell_v", lo=1.0, hi=5.0, default=4.20),
        charge_max_temp_c=r.num("charge_max_temp_c", lo=0.0, hi=80.0, default=45.0),
    )
    r.finish()
    if spec.charge_max_temp_c <= spec.charge_min_temp_c:
        raise ProfileError(
            "charge_max_temp_c must be above charge_min_temp_c",
            source=r.source,
            key=r.path("charge_max_temp_c"),
        )
    soc, volts = spec.ocv_soc_frac, spec.ocv_cell_v
    if len(soc) != len(volts) or len(soc) < 2:
        raise ProfileError(
            "ocv_soc_frac and ocv_cell_v must be equal-length lists of at least 2",
            source=r.source,
            key=r.path("ocv_cell_v"),
        )
    if soc[0] != 0.0 or soc[-1] != 1.0 or any(b <= a for a, b in itertools.pairwise(soc)):
        raise ProfileError(
            "ocv_soc_frac must rise strictly from 0.0 to 1.0",
            source=r.source,
            key=r.path("ocv_soc_frac"),
        )
    if any(b < a for a, b in itertools.pairwise(volts)) or volts[0] <= 0.0:
        raise ProfileError(
            "ocv_cell_v must be positive and rise with SoC",
            source=r.source,
            key=r.path("ocv_cell_v"),
        )
    if volts[-1] > spec.charge_max_cell_v:
        raise ProfileError(
            f"a full cell's open-circuit voltage {volts[-1]:g} V exceeds "
            f"charge_max_cell_v {spec.charge_max_cell_v:g} V: it could never be charged full",
            source=r.source,
            key=r.path("charge_max_cell_v"),
        )
    return spec


def _thermal(r: _Reader) -> ThermalSpec:
    nodes = []
    for n in r.tables("nodes"):
        nodes.append(
            NodeSpec(
                name=n.text("name"),
                heat_capacity_j_per_k=n.num("heat_capacity_j_per_k", lo=0.0, strict_lo=True),
                initial_temp_c=n.num("initial_temp_c", lo=-150.0, hi=150.0),
                max_temp_c=n.num("max_temp_c", lo=-100.0, hi=300.0, default=None),
                min_temp_c=n.num("min_temp_c", lo=-200.0, hi=100.0, default=None),
            )
        )
        n.finish()
    names = [n.name for n in nodes]
    if len(set(names)) != len(names):
        raise ProfileError(
            "thermal node names must be unique", source=r.source, key=r.path("nodes")
        )
    for required in REQUIRED_NODES:
        if required not in names:
            raise ProfileError(
                f"missing thermal node {required!r} (required: {', '.join(REQUIRED_NODES)})",
                source=r.source,
                key=r.path("nodes"),
            )
    choices = tuple(names)
    surfaces = []
    for s in r.tables("surfaces"):
        surfaces.append(
            SurfaceSpec(
                node=s.choice("node", choices),
                area_m2=s.num_or_derive("area_m2", lo=0.0, strict_lo=True),
                facing=s.choice("facing", FACINGS),
                absorptivity=s.num("absorptivity", lo=0.0, hi=1.0),
                emissivity=s.num("emissivity", lo=0.0, hi=1.0),
            )
        )
        s.finish()
    links = []
    for link in r.tables("links"):
        links.append(
            LinkSpec(
                a=link.choice("a", choices),
                b=link.choice("b", choices),
                conductance_w_per_k=link.num("conductance_w_per_k", lo=0.0, strict_lo=True),
                valve_closed_c=link.num("valve_closed_c", lo=-100.0, hi=200.0, default=None),
                valve_open_c=link.num("valve_open_c", lo=-100.0, hi=200.0, default=None),
            )
        )
        spec_link = links[-1]
        if (spec_link.valve_closed_c is None) != (spec_link.valve_open_c is None) or (
            spec_link.valve_closed_c is not None
            and spec_link.valve_open_c is not None
            and not spec_link.valve_closed_c < spec_link.valve_open_c
        ):
            raise ProfileError(
                "give both valve_closed_c and valve_open_c, closed below open",
                source=r.source,
                key=link.path("valve_open_c"),
            )
        link.finish()
    spec = ThermalSpec(
        nodes=tuple(nodes),
        surfaces=tuple(surfaces),
        links=tuple(links),
        sink_temp_k=r.num("sink_temp_k", lo=0.0, hi=300.0, default=3.0),
    )
    r.finish()
    return spec


def _flight(
    r: _Reader, thermal: ThermalSpec, battery: BatterySpec, heaters: tuple[HeaterSpec, ...]
) -> dict[str, Any]:
    """The executive's ``[flight]`` settings plus the temperature limits the thermal
    nodes and the battery declare, checked once, by the executive's own schema
    (:class:`flightsw.config.FlightConfig`), so the plant's limits, the flight limits
    and the dictionary's telemetry limits are the same numbers."""
    from flightsw.config import ConfigError, FlightConfig

    flight: dict[str, Any] = {key: r.num(key) for key in FLIGHT_KEYS}
    r.finish()
    nodes = {n.name: n for n in thermal.nodes}
    derived = {
        "avionics_temp_min_c": nodes["avionics"].min_temp_c,
        "avionics_temp_max_c": nodes["avionics"].max_temp_c,
        "battery_temp_min_c": nodes["battery"].min_temp_c,
        "battery_temp_max_c": nodes["battery"].max_temp_c,
        "battery_charge_min_temp_c": battery.charge_min_temp_c,
        "battery_charge_max_temp_c": min(
            battery.charge_max_temp_c, nodes["battery"].max_temp_c or math.inf
        ),
        "payload_temp_min_c": nodes["payload"].min_temp_c,
        "battery_voltage_min_v": battery.series_cells * battery.ocv_cell_v[0],
    }
    flight.update({k: v for k, v in derived.items() if v is not None})
    # the executive switches the heaters whose node it can sense; a heater on another node
    # stays with the plant (always off) rather than be switched blind
    from flightsw.config import HEATER_SENSORS

    flight["heaters"] = [
        {"name": h.name, "node": h.node, "power_w": h.power_w}
        for h in heaters
        if h.node in HEATER_SENSORS
    ]
    try:
        FlightConfig.from_mapping(flight)
    except ConfigError as exc:
        key = exc.details.get("key")
        raise ProfileError(str(exc), source=r.source,
                           key=r.path(key) if key in FLIGHT_KEYS else r.path("")) from exc
    return flight


_MISSING: Any = object()


class _Reader:
    """Reads one TOML table, remembering which keys were used so leftovers are errors."""

    def __init__(self, data: Any, source: str, prefix: str) -> None:
        if not isinstance(data, Mapping):
            raise ProfileError("must be a table", source=source, key=prefix or "<root>")
        self._data = data
        self._used: set[str] = set()
        self.source = source
        self._prefix = prefix

    def path(self, key: str) -> str:
        return f"{self._prefix}.{key}" if self._prefix else key

    def keys(self) -> list[str]:
        return list(self._data.keys())

    def _get(self, key: str, default: Any) -> Any:
        self._used.add(key)
        if key in self._data:
            return self._data[key]
        if default is _MISSING:
            raise ProfileError("missing required key", source=self.source, key=self.path(key))
        return default

    def fail(self, key: str, reason: str) -> ProfileError:
        return ProfileError(reason, source=self.source, key=self.path(key))

    def num(
        self,
        key: str,
        *,
        lo: float | None = None,
        hi: float | None = None,
        strict_lo: bool = False,
        default: Any = _MISSING,
    ) -> Any:
        value = self._get(key, default)
        if value is default and key not in self._data:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f"must be a number, got {value!r}")
        x = float(value)
        if not math.isfinite(x):
            raise self.fail(key, f"must be finite, got {x}")
        if lo is not None and (x < lo or (strict_lo and x == lo)):
            rel = ">" if strict_lo else ">="
            raise self.fail(key, f"must be {rel} {lo:g}, got {x:g}")
        if hi is not None and x > hi:
            raise self.fail(key, f"must be <= {hi:g}, got {x:g}")
        return x

    def num_or_derive(self, key: str, **kwargs: Any) -> float:
        """A number, or the string "derive" (NaN here) for :mod:`hil.plant.sizing` to fill."""
        if self._data.get(key) == _DERIVE:
            self._used.add(key)
            return math.nan
        return float(self.num(key, **kwargs))

    def numbers(self, key: str) -> list[float]:
        value = self._get(key, _MISSING)
        if not isinstance(value, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
        ):
            raise self.fail(key, "must be a list of numbers")
        return [float(v) for v in value]

    def strings(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        if value is default and key not in self._data:
            return value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "must be a list of strings")
        return value

    def text(self, key: str, default: Any = _MISSING) -> str:
        value = self._get(key, default)
        if not isinstance(value, str) or (not value and default is _MISSING):
            raise self.fail(key, f"must be a non-empty string, got {value!r}")
        return value

    def boolean(self, key: str, default: Any = _MISSING) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {value!r}")
        return value

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self._get(key, _MISSING)
        if value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}; got {value!r}")
        return str(value)

    def epoch(self, key: str) -> float:
        value = self._get(key, _MISSING)
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError as exc:
                raise self.fail(key, f"not an ISO-8601 time: {value!r}") from exc
        if not isinstance(value, datetime):
            raise self.fail(key, f"must be a UTC date-time like 2025-06-21T12:00:00Z: {value!r}")
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()

    def table(self, key: str, *, required: bool = True) -> _Reader:
        value = self._get(key, _MISSING if required else {})
        return _Reader(value, self.source, self.path(key))

    def tables(self, key: str, *, required: bool = True) -> list[_Reader]:
        value = self._get(key, _MISSING if required else [])
        if not isinstance(value, list):
            raise self.fail(key, "must be an array of tables ([[...]])")
        return [_Reader(v, self.source, f"{self.path(key)}[{i}]") for i, v in enumerate(value)]

    def finish(self) -> None:
        unknown = sorted(set(self._data) - self._used)
        if unknown:
            raise ProfileError(
                f"unknown key(s) {', '.join(map(repr, unknown))}",
                source=self.source,
                key=self._prefix or "<root>",
            )
