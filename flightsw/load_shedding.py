"""Load shedding: which loads the battery may carry now, in a stated priority order.

When power is short the loads go in this order (first shed first, last restored last):

1. ``payload`` - the compute is the mission, but it is also most of the load; below
   ``battery_soc_safe_frac``, or in eclipse below ``battery_soc_resume_frac`` (the next
   sunlight is what recharges the pack), it is switched off;
2. ``heaters`` - every heater except the battery's, below the midpoint between the
   SAFE level and the floor;
3. ``battery heater`` - last: a frozen pack cannot be charged again, so it keeps its
   heat until the battery reaches its floor.

Heaters are shed only in eclipse (or with the illumination unknown), when the battery
alone carries them: in sunlight the array powers them once the payload is off, and a
pack left cold through a sunlit pass could not take the charge it needs.
Each level comes back only :data:`RESTORE_HYSTERESIS_FRAC` of SoC above where it went,
so a load does not chatter at its threshold. A missing SoC reading is taken as low
(payload and comfort heaters shed, the battery heater kept): the stated safe assumption.
Pure: :func:`plan` maps the previous level and a few readings to the next
:class:`LoadPlan`; a planner can evaluate it over a forecast horizon.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from flightsw.config import FlightConfig

SHED_ORDER: tuple[str, ...] = ("payload", "heaters", "battery heater")
"""Loads in the order they are shed."""
RESTORE_HYSTERESIS_FRAC = 0.02
"""A shed level is lifted only this much SoC above the threshold that set it."""
UMBRA_SUN_FRACTION = 0.5
"""Below this sunlit fraction the spacecraft counts as in eclipse."""


@dataclass(frozen=True)
class LoadPlan:
    """How many loads of :data:`SHED_ORDER` are shed (0 = none) and why."""

    level: int = 0
    reason: str = ""
    charge_level: int = -1
    """The level the state of charge alone asks for (its hysteresis); -1: all of it."""

    @property
    def by_charge(self) -> int:
        return self.level if self.charge_level < 0 else self.charge_level

    @property
    def payload_allowed(self) -> bool:
        return self.level < 1

    @property
    def comfort_heaters_allowed(self) -> bool:
        return self.level < 2

    @property
    def battery_heaters_allowed(self) -> bool:
        return self.level < 3

    @property
    def shed(self) -> tuple[str, ...]:
        return SHED_ORDER[: self.level]


def thresholds(cfg: FlightConfig, in_eclipse: bool) -> tuple[float, float, float]:
    """SoC below which level 1, 2 and 3 apply."""
    payload = cfg.battery_soc_resume_frac if in_eclipse else cfg.battery_soc_safe_frac
    heaters = 0.5 * (cfg.battery_soc_floor_frac + cfg.battery_soc_safe_frac)
    return payload, heaters, cfg.battery_soc_floor_frac


def plan(previous: LoadPlan, soc_frac: float, sun_fraction: float,
         cfg: FlightConfig, *, mode_level: int = 0, mode: str = "") -> LoadPlan:
    """The next load plan for this state of charge and illumination; ``mode_level``: the
    level the spacecraft's mode imposes at least (its load budget,
    :func:`flightsw.modes.shed_level`)."""
    by_charge = _by_charge(previous, soc_frac, sun_fraction, cfg)
    if mode_level > by_charge.level:
        return LoadPlan(mode_level, f"mode {mode} keeps none of: "
                                    f"{', '.join(SHED_ORDER[:mode_level])}",
                        by_charge.by_charge)
    return by_charge


def _by_charge(previous: LoadPlan, soc_frac: float, sun_fraction: float,
               cfg: FlightConfig) -> LoadPlan:
    in_eclipse = not math.isnan(sun_fraction) and sun_fraction < UMBRA_SUN_FRACTION
    if math.isnan(soc_frac):
        return LoadPlan(2, "battery state of charge unknown (assumed low)")
    limits = thresholds(cfg, in_eclipse)
    level = 0
    for k, limit in enumerate(limits, start=1):
        # a level already in force holds until SoC clears its threshold by the hysteresis
        margin = RESTORE_HYSTERESIS_FRAC if previous.by_charge >= k else 0.0
        if soc_frac < limit + margin:
            level = k
    if not math.isnan(sun_fraction) and not in_eclipse:
        level = min(level, 1)  # in sunlight the array carries the heaters: keep them
    if level == 0:
        return LoadPlan(0, "")
    why = "in eclipse, " if in_eclipse and level == 1 else ""
    return LoadPlan(level, f"{why}battery at {soc_frac * 100:.1f} %: "
                           f"shedding {', '.join(SHED_ORDER[:level])}")


def heater_budget_w(load_plan: LoadPlan, cfg: FlightConfig) -> float:
    """Heater power the plan allows: all, the battery heaters only, or none."""
    total = 0.0
    for h in cfg.heaters:
        battery = h.node == "battery"
        if (battery and load_plan.battery_heaters_allowed) or (
                not battery and load_plan.comfort_heaters_allowed):
            total += h.power_w
    return total
