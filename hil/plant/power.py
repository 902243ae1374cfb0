"""Solar array output and the power bus: loads, battery charge/discharge, shunt, brownout.

The array's available power is its reference output scaled by the cell temperature
coefficient. The bus draws from the array only what the loads and the battery take; the
rest is left on the array (a peak-power tracker backs off; that energy never enters the
bus and is not counted as input). When the array and battery together cannot carry the
loads, the bus browns out and sheds loads in a fixed order (payload first, avionics last),
which the plant reports as a violation.
"""

from __future__ import annotations

from dataclasses import dataclass

from hil.plant.battery import Battery, BatteryFlow
from hil.plant.profile import ArraySpec

#: Order in which an undervoltage sheds loads (first = shed first).
SHED_ORDER: tuple[str, ...] = ("payload", "heaters", "radio", "avionics")


def array_available_w(spec: ArraySpec, base_w: float, array_temp_c: float) -> float:
    """Array power at the cell temperature; ``base_w`` is the output at ``ref_temp_c``."""
    factor = 1.0 + spec.temp_coeff_per_c * (array_temp_c - spec.ref_temp_c)
    return base_w * factor if factor > 0.0 else 0.0


@dataclass
class BusResult:
    """One step of the power bus (W)."""

    array_used_w: float
    served: dict[str, float]  # load group -> power actually delivered
    load_w: float
    battery: BatteryFlow
    brownout: bool


def balance_bus(
    available_w: float,
    demand: dict[str, float],
    battery: Battery,
    dt_s: float,
    battery_temp_c: float,
) -> BusResult:
    """Split the array's power between the loads and the battery for one step."""
    load_w = sum(demand.values())
    net_w = available_w - load_w
    if net_w >= 0.0:
        flow = battery.charge(net_w, dt_s, battery_temp_c) if net_w > 0.0 else battery.idle()
        return BusResult(load_w + flow.terminal_w, dict(demand), load_w, flow, False)
    flow = battery.discharge(-net_w, dt_s, battery_temp_c)
    supply_w = available_w - flow.terminal_w  # terminal_w < 0 when discharging
    if supply_w >= load_w * (1.0 - 1e-12):
        return BusResult(available_w, dict(demand), load_w, flow, False)
    served = dict(demand)
    shortfall = load_w - supply_w
    for group in SHED_ORDER:
        cut = min(served.get(group, 0.0), shortfall)
        if group in served:
            served[group] -= cut
        shortfall -= cut
    served_w = sum(served.values())
    # Anything left over (rounding) stays with the array, so the balance is exact.
    return BusResult(served_w + flow.terminal_w, served, served_w, flow, True)
