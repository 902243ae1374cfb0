"""The battery pack: OCV table, cold-charge refusal, taper, and the terminal relation."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hil.plant import Profile
from hil.plant.battery import Battery


def _pack(jetson: Profile, soc: float) -> Battery:
    return Battery(replace(jetson.battery, initial_soc_frac=soc))


def test_ocv_interpolates_the_cell_table_times_series_cells(jetson: Profile) -> None:
    assert _pack(jetson, 1.0).ocv_v() == pytest.approx(4 * 4.18)
    assert _pack(jetson, 0.5).ocv_v() == pytest.approx(4 * 3.73)
    assert _pack(jetson, 0.55).ocv_v() == pytest.approx(4 * (3.73 + 3.80) / 2)


def test_no_charge_below_zero_c_and_reduced_when_cool(jetson: Profile) -> None:
    pack = _pack(jetson, 0.5)
    assert pack.charge(50.0, 1.0, -1.0).current_a == 0.0
    cool = pack.charge(50.0, 1.0, 5.0).current_a
    warm = pack.charge(50.0, 1.0, 20.0).current_a
    assert cool == pytest.approx(0.3 * jetson.battery.max_charge_current_a)
    assert warm == pytest.approx(jetson.battery.max_charge_current_a)


def test_terminal_voltage_and_losses(jetson: Profile) -> None:
    pack = _pack(jetson, 0.5)
    ocv = pack.ocv_v()
    r = pack.resistance_ohm(25.0)
    flow = pack.discharge(30.0, 1.0, 25.0)
    i = -flow.current_a
    assert flow.terminal_w == pytest.approx(-30.0)
    assert flow.voltage_v == pytest.approx(ocv - i * r)
    eta = jetson.battery.discharge_efficiency
    assert flow.loss_w == pytest.approx(i * i * r + ocv * i * (1.0 / eta - 1.0))


def test_charge_tapers_near_full_and_never_overfills(jetson: Profile) -> None:
    pack = _pack(jetson, 0.995)
    for _ in range(3600):
        pack.charge(100.0, 1.0, 20.0)
    assert pack.soc_frac <= 1.0
    assert pack.soc_frac > 0.999
    assert pack.charge(100.0, 1.0, 20.0).current_a < 0.05 * jetson.battery.max_charge_current_a
