"""A lithium-ion battery pack: stored energy, OCV vs SoC, internal resistance, efficiencies.

The state is the chemical energy stored (J). At the terminals, V = OCV(SoC) + I R when
charging and OCV - I R when discharging; the I^2 R loss and the coulombic/chemical
inefficiency (1 - eta) become heat in the battery node. So, exactly, per step:
terminal energy = stored change + loss, which the energy-bookkeeping test checks.
Charging is refused below ``charge_min_temp_c`` and reduced below ``cold_charge_temp_c``
(lithium plating when cold), refused above ``charge_max_temp_c`` (the hot charge limit:
electrolyte breakdown), and follows a CC-CV charger: constant current up to the pack's
charge voltage ``series_cells * charge_max_cell_v``, then constant voltage, the current
falling as the open-circuit voltage rises, I <= (V_max - OCV) / R, so no cell ever sees
more than its charge voltage at the terminals. The last 3 % of SoC also taper (the
charger's termination).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from hil.plant.profile import BatterySpec

TAPER_SOC_FRAC = 0.03


@dataclass
class BatteryFlow:
    """What one step did at the battery: terminal power, current, voltage, loss (W, A, V)."""

    terminal_w: float = 0.0  # + into the battery
    current_a: float = 0.0  # + charging
    voltage_v: float = 0.0
    loss_w: float = 0.0


class Battery:
    """Pack state and the charge/discharge physics for one step of constant power."""

    def __init__(self, spec: BatterySpec) -> None:
        self.spec = spec
        self.capacity_j = spec.capacity_wh * 3600.0
        self.energy_j = spec.initial_soc_frac * self.capacity_j
        self._soc_pts = list(spec.ocv_soc_frac)
        self._ocv_pts = [v * spec.series_cells for v in spec.ocv_cell_v]
        self.charge_voltage_v = spec.charge_max_cell_v * spec.series_cells

    @property
    def soc_frac(self) -> float:
        return self.energy_j / self.capacity_j

    def ocv_v(self) -> float:
        """Open-circuit voltage of the pack, linear between the profile's table points."""
        soc = min(max(self.soc_frac, 0.0), 1.0)
        k = min(max(bisect.bisect_right(self._soc_pts, soc), 1), len(self._soc_pts) - 1)
        s0, s1 = self._soc_pts[k - 1], self._soc_pts[k]
        v0, v1 = self._ocv_pts[k - 1], self._ocv_pts[k]
        return v0 + (v1 - v0) * (soc - s0) / (s1 - s0)

    def resistance_ohm(self, temp_c: float) -> float:
        """Internal resistance, rising linearly as the pack cools below 25 C."""
        cold_k = max(25.0 - temp_c, 0.0)
        spec = self.spec
        return spec.internal_resistance_ohm * (1.0 + spec.resistance_temp_coeff_per_c * cold_k)

    def charge_limit_a(self, temp_c: float) -> float:
        """The charger's current limit: temperature window, CC-CV and termination taper."""
        return self._charge_limit_a(temp_c, self.ocv_v())

    def _charge_limit_a(self, temp_c: float, ocv_v: float) -> float:
        """:meth:`charge_limit_a` at a known open-circuit voltage (a step needs it twice)."""
        spec = self.spec
        if temp_c < spec.charge_min_temp_c or temp_c > spec.charge_max_temp_c:
            return 0.0
        limit = spec.max_charge_current_a
        if temp_c < spec.cold_charge_temp_c:
            limit *= spec.cold_charge_rate_frac
        headroom = 1.0 - self.soc_frac
        if headroom < TAPER_SOC_FRAC:
            limit *= max(headroom, 0.0) / TAPER_SOC_FRAC
        cv_limit = (self.charge_voltage_v - ocv_v) / self.resistance_ohm(temp_c)
        return max(min(limit, cv_limit), 0.0)

    def idle(self) -> BatteryFlow:
        return BatteryFlow(voltage_v=self.ocv_v())

    def charge(self, offered_w: float, dt_s: float, temp_c: float) -> BatteryFlow:
        """Accept up to ``offered_w`` at the terminals for ``dt_s``; returns what was taken."""
        ocv = self.ocv_v()
        r = self.resistance_ohm(temp_c)
        current = (-ocv + math.sqrt(ocv * ocv + 4.0 * r * offered_w)) / (2.0 * r)
        current = min(current, self._charge_limit_a(temp_c, ocv))
        eta = self.spec.charge_efficiency
        room_j = max(self.capacity_j - self.energy_j, 0.0)
        if eta * ocv * current * dt_s > room_j:
            current = room_j / (eta * ocv * dt_s)
        stored_w = eta * ocv * current
        terminal_w = current * (ocv + current * r)
        self.energy_j += stored_w * dt_s
        return BatteryFlow(terminal_w, current, ocv + current * r, terminal_w - stored_w)

    def discharge(self, demand_w: float, dt_s: float, temp_c: float) -> BatteryFlow:
        """Deliver up to ``demand_w`` at the terminals; less if empty or current-limited."""
        ocv = self.ocv_v()
        r = self.resistance_ohm(temp_c)
        disc = ocv * ocv - 4.0 * r * demand_w
        current = ocv / (2.0 * r) if disc < 0.0 else (ocv - math.sqrt(disc)) / (2.0 * r)
        current = min(current, self.spec.max_discharge_current_a)
        eta = self.spec.discharge_efficiency
        available_j = max(self.energy_j, 0.0)
        if ocv * current / eta * dt_s > available_j:
            current = available_j * eta / (ocv * dt_s)
        removed_w = ocv * current / eta
        delivered_w = current * (ocv - current * r)
        self.energy_j -= removed_w * dt_s
        return BatteryFlow(-delivered_w, -current, ocv - current * r, removed_w - delivered_w)
