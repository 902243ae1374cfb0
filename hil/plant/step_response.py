"""Throttle step responses on each profile: settling time, overshoot, limit cycling.

The step: the payload idles (throttle capped at 0) for one orbit, then the cap goes to
100 % and the flight throttle (:mod:`flightsw.throttle`) drives the real plant at 1 s
steps for three orbits. Measured on the payload temperature against the throttle's
target, and on the throttle level in the last orbit (a limit cycle shows as a large
peak-to-peak swing). Prints; asserts nothing (the tests assert on limits, not on time).

    python -m hil.plant.step_response [--json]
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass

from hil.plant.onboard import OnboardLoop
from hil.plant.profile import Profile, list_profiles, load_profile

SETTLE_BAND_C = 1.0
"""Settled: within the last orbit's range (eclipses move it) widened by this much."""


@dataclass
class StepResponse:
    profile: str
    target_c: float
    start_c: float
    peak_c: float
    final_c: float
    overshoot_c: float  # peak above the target (0: never above)
    settling_s: float  # from the step until it stays within the band of the final value
    level_final_frac: float
    level_swing_frac: float  # peak-to-peak throttle level over the last orbit
    worst_temps_c: dict[str, float]  # highest payload / avionics / battery seen


def measure(profile: Profile, *, orbits_after: float = 3.0) -> StepResponse:
    loop = OnboardLoop(profile, dt_s=1.0, operator_cap_frac=0.0)
    period = loop.plant.orbit_period_s
    while loop.plant.elapsed_s < period:
        loop.step()
    loop.operator_cap_frac = 1.0
    t0 = loop.plant.elapsed_s
    start = loop.plant.sensors().payload_temp_c
    trace: list[tuple[float, float, float]] = []  # (t since step, payload C, level)
    worst = {"payload": -math.inf, "avionics": -math.inf, "battery": -math.inf}
    while loop.plant.elapsed_s < t0 + orbits_after * period:
        loop.step()
        s = loop.plant.sensors()
        trace.append((loop.plant.elapsed_s - t0, s.payload_temp_c, loop.throttle.level_frac))
        worst["payload"] = max(worst["payload"], s.payload_temp_c)
        worst["avionics"] = max(worst["avionics"], s.avionics_temp_c)
        worst["battery"] = max(worst["battery"], s.battery_temp_c)
    last = [row for row in trace if row[0] >= (orbits_after - 1.0) * period]
    final = sorted(t for _, t, _ in last)[len(last) // 2]
    # settled: inside the last orbit's own range (its eclipse swing) widened by the band
    lo = min(t for _, t, _ in last) - SETTLE_BAND_C
    hi = max(t for _, t, _ in last) + SETTLE_BAND_C
    settling = 0.0
    for t_s, temp, _ in trace:
        if not lo <= temp <= hi:
            settling = t_s
    levels = [lvl for _, _, lvl in last]
    target = loop.cfg.payload_temp_target_c
    peak = max(t for _, t, _ in trace)
    return StepResponse(
        profile=profile.name, target_c=target, start_c=round(start, 2),
        peak_c=round(peak, 2), final_c=round(final, 2),
        overshoot_c=round(max(peak - target, 0.0), 2), settling_s=round(settling, 0),
        level_final_frac=round(levels[-1], 3),
        level_swing_frac=round(max(levels) - min(levels), 3),
        worst_temps_c={k: round(v, 2) for k, v in worst.items()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--profile", action="append")
    args = parser.parse_args(argv)
    results = [measure(load_profile(name)) for name in (args.profile or list_profiles())]
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
        return 0
    print(f"{'profile':18} {'target':>7} {'start':>7} {'peak':>7} {'final':>7} "
          f"{'overshoot':>9} {'settling':>9} {'level':>6} {'swing':>6}")
    for r in results:
        print(f"{r.profile:18} {r.target_c:7.1f} {r.start_c:7.1f} {r.peak_c:7.1f} "
              f"{r.final_c:7.1f} {r.overshoot_c:8.2f}C {r.settling_s:8.0f}s "
              f"{r.level_final_frac:6.2f} {r.level_swing_frac:6.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
