"""The thermal network against Stefan-Boltzmann by hand, and its integrator's honesty."""

from __future__ import annotations

import pytest

from hil.plant.profile import LinkSpec, NodeSpec, SurfaceSpec, ThermalSpec
from hil.plant.thermal import KELVIN, SIGMA, ThermalNetwork


def _panel(area_m2: float, emissivity: float, two_sided: bool, c_j_per_k: float) -> ThermalSpec:
    sides = 2 if two_sided else 1
    return ThermalSpec(
        nodes=(NodeSpec("panel", c_j_per_k, 0.0, None, None),),
        surfaces=tuple(
            SurfaceSpec("panel", area_m2, "side", 0.0, emissivity) for _ in range(sides)
        ),
        links=(),
        sink_temp_k=3.0,
    )


def _settle(net: ThermalNetwork, heat_w: list[float], seconds: int) -> None:
    for _ in range(seconds):
        net.step(1.0, heat_w)


def test_two_sided_panel_at_20c_radiates_770_w_per_m2() -> None:
    """DESIGN.md / Starcloud white paper: ~770 W/m^2 from a two-sided panel at 20 C."""
    by_hand = 2.0 * 0.92 * SIGMA * ((20.0 + KELVIN) ** 4 - 3.0**4)
    assert by_hand == pytest.approx(770.0, rel=0.01)
    # The network, fed 770 W on a 1 m^2 two-sided panel, settles at 20 C.
    net = ThermalNetwork(_panel(1.0, 0.92, two_sided=True, c_j_per_k=5000.0))
    _settle(net, [770.0], 6 * 3600)
    assert net.temps_k[0] - KELVIN == pytest.approx(20.0, abs=0.3)


@pytest.mark.parametrize("load_w", [25.0, 100.0, 400.0])
def test_radiator_equilibrium_matches_stefan_boltzmann(load_w: float) -> None:
    area, eps = 0.25, 0.88
    by_hand_k = (load_w / (eps * SIGMA * area) + 3.0**4) ** 0.25
    net = ThermalNetwork(_panel(area, eps, two_sided=False, c_j_per_k=2000.0))
    _settle(net, [load_w], 8 * 3600)
    assert net.temps_k[0] == pytest.approx(by_hand_k, abs=0.05)


def test_conduction_splits_temperature_drop_like_ohms_law() -> None:
    """Source node -> link G -> radiator: the source sits Q/G above the radiator."""
    spec = ThermalSpec(
        nodes=(NodeSpec("chip", 300.0, 20.0, None, None), NodeSpec("rad", 900.0, 0.0, None, None)),
        surfaces=(SurfaceSpec("rad", 0.3, "side", 0.0, 0.9),),
        links=(LinkSpec("chip", "rad", 2.0),),
        sink_temp_k=3.0,
    )
    net = ThermalNetwork(spec)
    _settle(net, [60.0, 0.0], 6 * 3600)
    chip, rad = net.temps_k
    assert chip - rad == pytest.approx(60.0 / 2.0, abs=0.01)
    assert rad == pytest.approx((60.0 / (0.9 * SIGMA * 0.3) + 81.0) ** 0.25, abs=0.05)


def test_stiff_node_is_substepped_and_stays_stable() -> None:
    """A 1 J/K node on a 50 W/K link has a 0.02 s time constant; a 1 s step must not blow up."""
    spec = ThermalSpec(
        nodes=(NodeSpec("tiny", 1.0, 80.0, None, None), NodeSpec("big", 5000.0, 0.0, None, None)),
        surfaces=(SurfaceSpec("big", 0.5, "side", 0.0, 0.9),),
        links=(LinkSpec("tiny", "big", 50.0),),
        sink_temp_k=3.0,
    )
    net = ThermalNetwork(spec)
    net.step(1.0, [10.0, 0.0])
    assert net.substeps >= 50
    tiny, big = net.temps_k
    assert 0.0 < tiny - big < 80.0  # relaxed towards the big node without overshoot
    stored0 = sum(c * t for c, t in zip(net.capacity_j_per_k, [80.0 + KELVIN, KELVIN], strict=True))
    assert net.stored_j() - stored0 == pytest.approx(net.input_j - net.radiated_j, abs=1e-6)
