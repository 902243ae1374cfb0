"""The plant fixes from the power review, each checked against a number worked by hand:
the charger's constant-voltage phase, the hot charge limit, and the solar flux following
the Sun-Earth distance."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import numpy as np
import pytest

from flightsw.hal import Actuators
from hil.plant import Plant, Profile, load_profile
from hil.plant.battery import Battery
from hil.plant.ephemeris import Ephemeris
from hil.plant.frames import unix_to_jd
from hil.plant.profile import LinkSpec, NodeSpec, ThermalSpec
from hil.plant.sun import AU_KM, flux_scale, sun_position_km
from hil.plant.thermal import ThermalNetwork


def _pack(jetson: Profile, soc: float) -> Battery:
    return Battery(replace(jetson.battery, initial_soc_frac=soc))


def test_constant_voltage_phase_holds_the_cell_at_its_charge_voltage(jetson: Profile) -> None:
    """cubesat-jetson, 4S, R = 0.16 ohm at 25 C, cell OCV 4.07 V at 90 % and 4.18 V at 100 %.

    At 95 % SoC the cell OCV is (4.07 + 4.18) / 2 = 4.125 V, the pack's 16.50 V. The
    charger may raise the terminals to 4 x 4.20 = 16.80 V, so the current is
    (16.80 - 16.50) / 0.16 = 1.875 A (below the 2.6 A constant-current limit): the CV
    phase. Terminal power 1.875 x 16.80 = 31.50 W, stored 0.98 x 16.50 x 1.875 = 30.32 W.
    Before the fix the pack took the full 2.6 A: 16.50 + 2.6 x 0.16 = 16.916 V, 4.229 V
    a cell.
    """
    pack = _pack(jetson, 0.95)
    flow = pack.charge(50.0, 1.0, 25.0)
    assert flow.current_a == pytest.approx(1.875)
    assert flow.voltage_v == pytest.approx(16.80)
    assert flow.terminal_w == pytest.approx(31.50)
    assert flow.terminal_w - flow.loss_w == pytest.approx(0.98 * 16.50 * 1.875)


def test_cells_never_exceed_the_charge_voltage_on_a_cool_full_charge(jetson: Profile) -> None:
    """Charging from 50 % to full at 12 C, where R = 0.16 x (1 + 0.02 x 13) = 0.2016 ohm:
    the CC phase at 2.6 A would put 3.97 x 4 + 2.6 x 0.2016 = 16.40 V on the pack at
    80 % (4.10 V a cell) and 16.72 + 0.52 = 17.24 V (4.31 V a cell) near full. With the
    CV phase no step ever shows more than 4.20 V a cell, and the pack still fills."""
    pack = _pack(jetson, 0.5)
    max_cell_v = 0.0
    for _ in range(6 * 3600):
        flow = pack.charge(100.0, 1.0, 12.0)
        max_cell_v = max(max_cell_v, flow.voltage_v / 4)
    assert max_cell_v <= 4.20 + 1e-9
    assert max_cell_v > 4.199  # it did reach the CV phase
    assert pack.soc_frac > 0.99


def test_no_charging_above_the_hot_charge_limit(jetson: Profile) -> None:
    """The pack charges at 2.6 A at 44 C (R = 0.16 ohm at >= 25 C; CV allows
    (16.80 - 14.92) / 0.16 = 11.75 A at 50 %), and not at all at 46 C, above the 45 C
    hot limit. Discharge is still allowed when hot."""
    assert jetson.battery.charge_max_temp_c == 45.0
    assert _pack(jetson, 0.5).charge(50.0, 1.0, 44.0).current_a == pytest.approx(2.6)
    hot = _pack(jetson, 0.5)
    assert hot.charge(50.0, 1.0, 46.0).current_a == 0.0
    assert hot.soc_frac == 0.5
    assert hot.discharge(10.0, 1.0, 46.0).current_a < 0.0


def test_hot_pack_in_the_plant_takes_no_charge(jetson: Profile) -> None:
    """The same limit through the whole plant: a 50 C pack in sunlight gets no current."""
    thermal = jetson.thermal
    nodes = tuple(replace(n, initial_temp_c=50.0) if n.name == "battery" else n
                  for n in thermal.nodes)
    profile = replace(jetson, thermal=replace(thermal, nodes=nodes),
                      battery=replace(jetson.battery, initial_soc_frac=0.5))
    plant = Plant(profile, record=False)
    plant.step(1.0, Actuators(payload_on=False))
    s = plant.sensors()
    assert s.sun_fraction == 1.0 and s.battery_temp_c > 45.0
    assert s.battery_current_a == 0.0


def _utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def test_flux_follows_the_sun_earth_distance() -> None:
    """The Almanac's distance is 1.00014 - 0.01671 cos g - 0.00014 cos 2g AU. At
    perihelion (g = 0, ~3 January) that is 0.98329 AU: flux 1361 / 0.98329^2 =
    1407.6 W/m^2, +3.42 %. At aphelion (g = 180 deg, ~4 July) 1.01671 AU: 1361 /
    1.01671^2 = 1316.6 W/m^2, -3.26 %."""
    jan = float(flux_scale(np.linalg.norm(sun_position_km(np.array([unix_to_jd(
        _utc("2027-01-03T12:00:00"))])), axis=1))[0])
    jul = float(flux_scale(np.linalg.norm(sun_position_km(np.array([unix_to_jd(
        _utc("2027-07-05T12:00:00"))])), axis=1))[0])
    assert 1361.0 * jan == pytest.approx(1407.6, abs=0.3)
    assert 1361.0 * jul == pytest.approx(1316.6, abs=0.3)
    assert float(flux_scale(np.array([AU_KM]))[0]) == 1.0


def test_array_and_absorbed_sun_follow_the_flux(jetson: Profile) -> None:
    """cubesat-jetson's sun-tracking array: 1361 x 0.42 x 0.85 x 0.295 = 143.33 W at 1 AU,
    so 143.33 x 1.0342 = 148.2 W in full sun in early January and 143.33 x 0.9674 =
    138.7 W in early July; the sun-facing absorbed heat scales by the same ratio."""
    peak = 1361.0 * 0.42 * 0.85 * 0.295
    out = {}
    for label, when in (("jan", "2027-01-03T12:00:00"), ("jul", "2027-07-05T12:00:00")):
        eph = Ephemeris(jetson, _utc(when))
        geo = eph.sample(np.arange(0.0, 6000.0, 10.0))
        lit = geo.sun_frac == 1.0
        out[label] = float(np.max(geo.array_base_w[lit]))
    assert out["jan"] == pytest.approx(peak * 1.0342, rel=2e-4)
    assert out["jul"] == pytest.approx(peak * 0.9674, rel=2e-4)


def _two_nodes(temp_a_c: float) -> ThermalNetwork:
    nodes = (NodeSpec("a", 1e6, temp_a_c, None, None), NodeSpec("b", 1e6, -50.0, None, None))
    link = LinkSpec("a", "b", 100.0, valve_closed_c=0.0, valve_open_c=10.0)
    return ThermalNetwork(ThermalSpec(nodes, (), (link,), 3.0))


@pytest.mark.parametrize(("temp_a_c", "conductance"), [
    (20.0, 100.0),   # above open: the full 100 W/K
    (5.0, 50.0),     # half way across the 0..10 C band: 50 W/K
    (-5.0, 2.0),     # below closed: the 2 % leak, 2 W/K
])
def test_bypass_valve_conductance(temp_a_c: float, conductance: float) -> None:
    """A loop valve on link a-b (100 W/K) closing from 10 C to 0 C at node a. One second
    with no other heat: node a loses G x (T_a + 50) J; with C = 1e6 J/K that is
    G x (T_a + 50) / 1e6 K."""
    net = _two_nodes(temp_a_c)
    net.step(1.0, [0.0, 0.0])
    drop = temp_a_c + 273.15 - net.temps_k[0]
    assert drop == pytest.approx(conductance * (temp_a_c + 50.0) / 1e6, rel=1e-6)


def test_orbital_dc_node_avionics_survive_a_light_load() -> None:
    """At payload idle (15 kW into a radiator sized for 137 kW at 60 C) the radiator
    settles near (18 kW / (0.9 sigma 248 m^2))^(1/4) = 194 K = -79 C; without its loop
    valve the avionics (600 W/K to it) followed within hours. With the valves they stay
    above -20 C."""
    profile = load_profile("orbital-dc-node")
    plain = tuple(replace(link, valve_closed_c=None, valve_open_c=None)
                  for link in profile.thermal.links)
    without = replace(profile, thermal=replace(profile.thermal, links=plain))
    avionics_c = {}
    for label, prof in (("valves", profile), ("none", without)):
        plant = Plant(prof, record=False)
        for _ in range(3 * 3600 // 10):
            plant.step(10.0, Actuators(payload_activity_frac=0.0, heaters_on={"battery": True}))
        s = plant.sensors()
        assert s.radiator_temp_c < -20.0
        avionics_c[label] = s.avionics_temp_c
    assert avionics_c["valves"] > -20.0
    assert avionics_c["none"] < -20.0  # the plain loops froze them
