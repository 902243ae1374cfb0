"""``aisat bench policy``: compute delivered by the flight policy against an offline optimum.

Why: "near optimal" means nothing without the bound. For every shipped profile this
flies ``--days`` (default 30) with the in-process onboard loop (:mod:`hil.plant.onboard`:
the flight's own modes, load plan, heaters, limit checker, energy planner and throttle,
no sockets) and compares the compute it delivered (payload-seconds at full throughput)
with:

- **the offline optimum**: a linear program over the whole timeline with perfect
  foresight (scipy's HiGHS), maximising the sum of payload activity ``u_k`` under the
  same limits: battery charge at or above its floor, every constrained temperature
  (payload, avionics, battery) inside its limits. The plant is linearised around an
  operating point:

  * the operating point is the flight policy's own trajectory (zero violations, so the
    program starts from a feasible schedule and looks for headroom around it);
  * energy: the array power and the bus load (everything but the payload) of that
    trajectory are taken as given per step; the payload (always on) adds ``idle +
    u_k * (max - idle)``; with ``p`` the net power into the pack, the state of charge
    obeys ``s[k+1] - s[k] <= dt * min(eta_c * p, p / eta_d) / E`` (the min of two lines is
    concave, so this stays convex: charging is lossy, discharging costs extra) and
    ``s <= 1`` (a full pack wastes the surplus, the shunt's job), plus the charge current
    limit at the nominal voltage;
  * heat: each constrained temperature is the reference flight's plus a first-order
    response to the change of activity, ``x[k+1] = a x[k] + g (1 - a) (u[k] - u_ref[k])``,
    with gain ``g`` (C per unit activity) and pole ``a = exp(-dt / tau)`` identified from a
    step of activity on two copies of the plant held at the flight's mean activity
    (:func:`identify`); the radiative T^4 and the valves are what this linearisation
    leaves out, which is why the optimum's schedule is **replayed through the real
    plant**;
  * the bound must be a schedule the real plant flies: where the replay exceeds a
    limit the program models, that bound is tightened at those steps by the measured
    excess (plus a pad, spread over neighbouring steps) and the program re-solved, at
    most :data:`MAX_TIGHTENINGS` times (:func:`honest_optimum`,
    :mod:`hil.replay_margin`). The table prints the bare program's ratio and its
    replay's violations, the rounds taken and the final replay's violations: a
    non-zero last count means the loop ran out of rounds and the bound is still
    optimistic.

- two naive baselines flown through the real plant with the flight's heater thermostat:
  a **fixed duty cycle** sized to be safe (the largest constant activity the same
  linearised model allows, found by bisection), and a **bang-bang thermostat** (full
  activity until a temperature reaches its warning level or the charge its safe level,
  off until back at the target / resume level).

The ratio printed for each is its compute over the optimum's bound. Violations are the
plant's own limit episodes. A second program holds the temperatures to the flight's own
warning levels (``in env.``: the flight's compute over that optimum): the difference
between the two is what the profile's thermal margins cost, not the policy. Prints
ratios, asserts nothing: a benchmark, not a test.

    aisat bench policy [--json] [--days N] [--profile NAME ...]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flightsw import heaters
from flightsw.component import Tick
from flightsw.config import FlightConfig
from flightsw.hal import Actuators, Sensors
from flightsw.load_shedding import LoadPlan
from flightsw.throttle import DERATE_MARGIN_C
from hil.plant import Plant, Profile, load_profile
from hil.plant.onboard import DAY_S, OnboardLoop, flight_config
from hil.plant.profile import list_profiles
from hil.replay_margin import Margins, ReplayExcess

PLANT_DT_S = 30.0
"""Step of every plant run here (flight and baselines alike)."""
LP_DT_S = 120.0
"""Step of the linear program (its schedule is held over 4 plant steps on replay)."""
IDENTIFY_S = 4 * 3600.0
STEP_DELTA = 0.3  # the activity step used to identify the thermal response
TEMP_MARGIN_C = 1.0
"""Kept off every temperature limit in the program, for the linearisation's error."""
SOC_MARGIN_FRAC = 0.01
MAX_TIGHTENINGS = 6
"""Solve-replay-tighten rounds after the first solve; the output says whether the last
replay came out clean."""

Choose = Callable[[Sensors, int], float]


@dataclass
class Flight:
    """One run through the real plant: compute delivered and what it broke."""

    compute_s: float = 0.0
    violations: list[str] = field(default_factory=list)
    u: list[float] = field(default_factory=list)
    temps_c: dict[str, list[float]] = field(default_factory=dict)
    array_w: list[float] = field(default_factory=list)
    bus_w: list[float] = field(default_factory=list)
    soc0_frac: float = math.nan


NODES = ("payload", "battery", "avionics")


def _limits(cfg: FlightConfig) -> dict[str, tuple[float, float]]:
    """Each constrained temperature's (min, max); the program uses the maxima."""
    return {"payload": (-math.inf, cfg.payload_temp_max_c),
            "battery": (cfg.battery_temp_min_c, cfg.battery_temp_max_c),
            "avionics": (cfg.avionics_temp_min_c, cfg.avionics_temp_max_c)}


def _envelope(cfg: FlightConfig) -> dict[str, tuple[float, float]]:
    """The flight's own operating envelope: the payload below its warning level (the
    throttle clamps there), battery and avionics below the level where the throttle
    starts derating (5 C under their maxima). The gap between the two optima is what the
    profile's thermal margins cost, not the policy."""
    return {"payload": (-math.inf, cfg.payload_temp_warn_c),
            "battery": (cfg.battery_temp_min_c, cfg.battery_temp_max_c - DERATE_MARGIN_C),
            "avionics": (cfg.avionics_temp_min_c, cfg.avionics_temp_max_c - DERATE_MARGIN_C)}


def _temps(s: Sensors) -> dict[str, float]:
    return {"payload": s.payload_temp_c, "battery": s.battery_temp_c,
            "avionics": s.avionics_temp_c}


def _books(plant: Plant, out: Flight) -> None:
    """The step just flown, from the plant's own books: the array power *available* (the
    HAL reports what was used, which a full pack curtails: the optimum must see what it
    could have drawn) and the load besides the payload (avionics, radio, heaters)."""
    out.array_w.append(float(plant._array_avail_w))
    out.bus_w.append(float(plant._load_w - plant._payload_w))


def fly_open_loop(profile: Profile, cfg: FlightConfig, days: float, choose: Choose, *,
                  plant: Plant | None = None, record: bool = False,
                  observe: Callable[[Plant], None] | None = None) -> Flight:
    """Fly the plant with payload activity from ``choose`` (payload always powered) and
    the flight's heater thermostat (nothing shed): how the baselines and the optimum's
    replay are flown. ``observe`` sees the plant after every step."""
    plant = plant or Plant(profile, record=False)
    heat = heaters.initial(cfg)
    out = Flight(temps_c={n: [] for n in NODES})
    steps = round(days * DAY_S / PLANT_DT_S)
    for k in range(steps):
        s = plant.sensors()
        if k == 0:
            out.soc0_frac = s.battery_soc_frac
        t = Tick(plant.time_utc_s, plant.elapsed_s)
        heat, _ = heaters.step(heat, heaters.inputs_from(s, LoadPlan(), cfg), t, cfg)
        u = min(max(choose(s, k), 0.0), 1.0)
        act = Actuators(payload_on=True, payload_activity_frac=u,
                        heaters_on=heaters.commands(heat, t.monotonic_s))
        plant.step(PLANT_DT_S, act)
        if observe is not None:
            observe(plant)
        if record:
            out.u.append(u)
            for n, v in _temps(s).items():
                out.temps_c[n].append(v)
            _books(plant, out)
        out.compute_s += u * PLANT_DT_S
    out.violations = list(plant.summary()["violations"])
    return out


def fly_flight(profile: Profile, days: float) -> Flight:
    """The flight policy (the onboard loop), its trajectory recorded: it is the operating
    point the optimum's linear program is built around."""
    loop = OnboardLoop(profile, dt_s=PLANT_DT_S)
    out = Flight(temps_c={n: [] for n in NODES})
    for k in range(round(days * DAY_S / PLANT_DT_S)):
        s = loop.plant.sensors()
        if k == 0:
            out.soc0_frac = s.battery_soc_frac
        loop.step()
        act = loop.last_actuators
        out.u.append(act.payload_activity_frac if act.payload_on else 0.0)
        for n, v in _temps(s).items():
            out.temps_c[n].append(v)
        _books(loop.plant, out)
    loop.record.violations = list(loop.plant.summary()["violations"])
    out.compute_s = loop.record.payload_full_s
    out.violations = loop.record.violations
    return out


def bang_bang(cfg: FlightConfig) -> Choose:
    """Full until any temperature reaches its warning level (payload: warn; battery and
    avionics: 5 C below their maxima) or the charge its safe level; off until every one
    is back at the target (payload), 10 C below the maxima, and the resume charge."""
    on = [True]

    def choose(s: Sensors, _k: int) -> float:
        hot = (s.payload_temp_c >= cfg.payload_temp_warn_c
               or s.battery_temp_c >= cfg.battery_temp_max_c - 5
               or s.avionics_temp_c >= cfg.avionics_temp_max_c - 5
               or s.battery_soc_frac <= cfg.battery_soc_safe_frac)
        cool = (s.payload_temp_c <= cfg.payload_temp_target_c
                and s.battery_temp_c <= cfg.battery_temp_max_c - 10
                and s.avionics_temp_c <= cfg.avionics_temp_max_c - 10
                and s.battery_soc_frac >= cfg.battery_soc_resume_frac)
        if on[0] and hot:
            on[0] = False
        elif not on[0] and cool:
            on[0] = True
        return 1.0 if on[0] else 0.0

    return choose


def identify(profile: Profile, cfg: FlightConfig, u0: float) -> dict[str, tuple[float, float]]:
    """Gain (C per unit activity) and time constant (s) of each constrained temperature's
    response to a step of activity, at the operating point ``u0`` after a day's flight:
    two copies of the same plant, one stepped by :data:`STEP_DELTA`."""
    plant = Plant(profile, record=False)
    fly_open_loop(profile, cfg, 1.0, lambda _s, _k: u0, plant=plant)
    lo_u = max(u0 - STEP_DELTA / 2, 0.0)
    hi_u = min(lo_u + STEP_DELTA, 1.0)
    days = IDENTIFY_S / DAY_S
    lo = fly_open_loop(profile, cfg, days, lambda _s, _k: lo_u, plant=copy.deepcopy(plant),
                       record=True)
    hi = fly_open_loop(profile, cfg, days, lambda _s, _k: hi_u, plant=copy.deepcopy(plant),
                       record=True)
    out: dict[str, tuple[float, float]] = {}
    for n in NODES:
        diff = np.array(hi.temps_c[n]) - np.array(lo.temps_c[n])
        final = float(diff[-1])
        gain = final / (hi_u - lo_u)
        if abs(final) < 1e-6:
            out[n] = (0.0, PLANT_DT_S)
            continue
        reached = np.nonzero(np.abs(diff) >= 0.632 * abs(final))[0]
        tau = (float(reached[0]) + 1) * PLANT_DT_S if reached.size else IDENTIFY_S
        out[n] = (gain, tau)
    return out


@dataclass(frozen=True)
class _Grid:
    """The reference trajectory averaged onto the program's steps, and the pack's
    figures: what both the program and the fixed duty's sizing read."""

    k_n: int
    dt: float
    u_ref: np.ndarray
    t_ref: dict[str, np.ndarray]
    net0_w: np.ndarray  # array available less every load, the payload idle
    span_w: float
    energy_j: float
    max_charge_w: float

    @classmethod
    def of(cls, profile: Profile, ref: Flight) -> _Grid:
        hold = round(LP_DT_S / PLANT_DT_S)
        k_n = len(ref.u) // hold

        def avg(seq: list[float]) -> np.ndarray:
            a = np.nan_to_num(np.array(seq[: k_n * hold], dtype=float))
            return a.reshape(k_n, hold).mean(axis=1)

        loads, bat = profile.loads, profile.battery
        return cls(k_n, hold * PLANT_DT_S, avg(ref.u),
                   {n: avg(ref.temps_c[n]) for n in NODES},
                   avg(ref.array_w) - avg(ref.bus_w) - loads.payload_idle_w,
                   loads.payload_max_w - loads.payload_idle_w, bat.capacity_wh * 3600.0,
                   bat.max_charge_current_a * bat.series_cells * 3.7)


def fixed_duty(profile: Profile, cfg: FlightConfig, ref: Flight,
               model: dict[str, tuple[float, float]]) -> float:
    """The largest constant activity the same linearised model allows (bisection: a
    single shared column made the program numerically hard for HiGHS)."""
    g = _Grid.of(profile, ref)
    bat = profile.battery
    lims = _limits(cfg)
    floor = min(cfg.battery_soc_floor_frac + SOC_MARGIN_FRAC, ref.soc0_frac)

    def safe(u: float) -> bool:
        for n in NODES:
            gain, tau = model[n]
            a = math.exp(-g.dt / tau)
            high = lims[n][1]
            x = 0.0
            for k in range(g.k_n):
                x = a * x + gain * (1 - a) * (u - g.u_ref[k])
                t = g.t_ref[n][k + 1] if k + 1 < g.k_n else g.t_ref[n][-1]
                if t + x > max(high - TEMP_MARGIN_C, min(high, t)):
                    return False
        soc = ref.soc0_frac
        for k in range(g.k_n):
            p = g.net0_w[k] - g.span_w * u
            gain_j = min(bat.charge_efficiency * p, p / bat.discharge_efficiency,
                         g.max_charge_w * bat.charge_efficiency) * g.dt
            soc = min(soc + gain_j / g.energy_j, 1.0)
            if soc < floor:
                return False
        return True

    lo, hi = 0.0, 1.0
    if safe(hi):
        return hi
    for _ in range(20):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if safe(mid) else (lo, mid)
    return lo


def optimum(profile: Profile, cfg: FlightConfig, ref: Flight,
            model: dict[str, tuple[float, float]], *,
            envelope: bool = False, margins: Margins | None = None) -> tuple[float, np.ndarray]:
    """The linear program; returns (compute seconds, activity per LP step). With
    ``envelope`` the temperatures are held to the flight's warning levels instead of
    its limits (:func:`_envelope`); ``margins`` tighten each bound per step by what the
    replay measured (:func:`honest_optimum`)."""
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    g = _Grid.of(profile, ref)
    m = margins or Margins.zero(g.k_n)
    k_n, dt, u_ref, t_ref, net0, span = g.k_n, g.dt, g.u_ref, g.t_ref, g.net0_w, g.span_w
    bat, energy_j, max_charge_w = profile.battery, g.energy_j, g.max_charge_w
    n_u = k_n
    # variables: u (n_u), s (k_n + 1), x per node (k_n + 1 each)
    i_s = n_u
    i_x = {n: n_u + (k_n + 1) * (1 + j) for j, n in enumerate(NODES)}
    n_var = n_u + (k_n + 1) * (1 + len(NODES))
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    b_ub: list[float] = []
    r = 0

    def ui(k: int) -> int:
        return k

    ks = range(k_n)
    # energy: s[k+1] - s[k] + c * span * u[k] <= c * net0[k], for c in the two slopes
    for c in (dt * bat.charge_efficiency / energy_j, dt / (bat.discharge_efficiency * energy_j)):
        for k in ks:
            rows += [r, r, r]
            cols += [i_s + k + 1, i_s + k, ui(k)]
            vals += [1.0, -1.0, c * span]
            b_ub.append(c * net0[k])
            r += 1
    for k in ks:  # the charge current limit
        rows += [r, r]
        cols += [i_s + k + 1, i_s + k]
        vals += [1.0, -1.0]
        b_ub.append(dt * max_charge_w * bat.charge_efficiency / energy_j)
        r += 1
    a_ub = coo_matrix((vals, (rows, cols)), shape=(r, n_var))
    # heat: x[k+1] - a x[k] - g (1 - a) u[k] = -g (1 - a) u_ref[k]; x[0] = 0
    rows, cols, vals, b_eq = [], [], [], []
    r = 0
    for n in NODES:
        gain, tau = model[n]
        a = math.exp(-dt / tau)
        base = i_x[n]
        rows.append(r)
        cols.append(base)
        vals.append(1.0)
        b_eq.append(0.0)
        r += 1
        for k in ks:
            rows += [r, r, r]
            cols += [base + k + 1, base + k, ui(k)]
            vals += [1.0, -a, -gain * (1 - a)]
            b_eq.append(-gain * (1 - a) * u_ref[k])
            r += 1
    rows.append(r)
    cols.append(i_s)
    vals.append(1.0)
    b_eq.append(ref.soc0_frac)
    r += 1
    a_eq = coo_matrix((vals, (rows, cols)), shape=(r, n_var))
    bounds: list[tuple[float | None, float | None]] = [(0.0, 1.0)] * n_u
    floor = cfg.battery_soc_floor_frac + SOC_MARGIN_FRAC
    soc_low = np.minimum(min(floor, ref.soc0_frac) + m.soc_frac, 1.0)
    bounds += [(float(lo), 1.0) for lo in soc_low]
    lims = _envelope(cfg) if envelope else _limits(cfg)
    for n in NODES:
        high = lims[n][1]
        tr = np.append(t_ref[n], t_ref[n][-1])
        # the margin applies where the trajectory has room for it (never forcing the
        # program off a schedule the real plant flew inside its limits); cold limits are
        # the heaters' (flown in every replay, absent from this model), not the payload's
        hi_b = np.maximum(high - TEMP_MARGIN_C - tr, np.minimum(high - tr, 0.0))
        if envelope:  # where the flight itself left the envelope, not worse than it
            hi_b = np.maximum(hi_b, 0.0)
        hi_b = hi_b - m.high_c[n]
        # a cold limit enters the program only where a replay went below it
        low = lims[n][0]
        lo_b = [None if mk <= 0.0 or not math.isfinite(low) else float(low + mk - t)
                for mk, t in zip(m.low_c[n], tr, strict=True)]
        bounds += [(lo, float(h)) for lo, h in zip(lo_b, hi_b, strict=True)]
    cost = np.zeros(n_var)
    cost[:n_u] = -dt
    res = linprog(cost, A_ub=a_ub.tocsr(), b_ub=np.array(b_ub), A_eq=a_eq.tocsr(),
                  b_eq=np.array(b_eq), bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"{profile.name}: linear program failed: {res.message}")
    u = np.asarray(res.x[:n_u], dtype=float)
    return float(-res.fun), u


def _schedule(u: np.ndarray) -> Choose:
    hold = round(LP_DT_S / PLANT_DT_S)

    def choose(_s: Sensors, k: int) -> float:
        return float(u[min(k // hold, len(u) - 1)])

    return choose


@dataclass
class Honest:
    """The optimum whose schedule the real plant flies: the first solve (what the bare
    linearisation promises) and the last (after tightening), each with its replay."""

    first_s: float
    first_replay: Flight
    best_s: float
    u: np.ndarray
    replay: Flight
    tightenings: int
    unmodelled: int


def honest_optimum(profile: Profile, cfg: FlightConfig, ref: Flight,
                   model: dict[str, tuple[float, float]], days: float,
                   max_tightenings: int = MAX_TIGHTENINGS) -> Honest:
    """Solve, replay through the real plant, and where the replay exceeds a limit the
    program models, tighten that bound by the measured excess and solve again, at most
    ``max_tightenings`` times. The result is the last solve and its replay; whether that
    replay is clean is reported, never assumed."""
    g = _Grid.of(profile, ref)
    hold = round(LP_DT_S / PLANT_DT_S)
    margins = Margins.zero(g.k_n)
    first: tuple[float, Flight] | None = None
    rounds = 0
    while True:
        best_s, u = optimum(profile, cfg, ref, model, margins=margins)
        excess = ReplayExcess(hold, g.k_n)
        replay = fly_open_loop(profile, cfg, days, _schedule(u), observe=excess.observe)
        if first is None:
            first = (best_s, replay)
        if not replay.violations or not excess.any() or rounds >= max_tightenings:
            return Honest(first[0], first[1], best_s, u, replay, rounds, excess.unmodelled)
        margins = margins.tighten(excess)
        rounds += 1


def bench_profile(name: str, days: float) -> dict[str, Any]:
    """Every run for one profile; the numbers for the table."""
    t0 = time.perf_counter()
    profile = load_profile(name)
    cfg = flight_config(profile)
    flight = fly_flight(profile, days)
    model = identify(profile, cfg, min(max(float(np.mean(flight.u)), 0.1), 0.9))
    honest = honest_optimum(profile, cfg, flight, model, days)
    best_s, replay = honest.best_s, honest.replay
    try:
        inside_s: float | None = optimum(profile, cfg, flight, model, envelope=True)[0]
    except RuntimeError:
        inside_s = None  # reported as such: the program found no answer
    duty = fixed_duty(profile, cfg, flight, model)
    fixed = fly_open_loop(profile, cfg, days, lambda _s, _k: duty)
    bang = fly_open_loop(profile, cfg, days, bang_bang(cfg))

    def ratio(s: float) -> float:
        return round(s / best_s, 4) if best_s > 0 else 1.0

    return {
        "ratio_to_optimum": ratio(flight.compute_s),
        "violations": len(flight.violations),
        "compute_full_s": round(flight.compute_s),
        "ratio_to_envelope_optimum": (None if inside_s is None else
                                      round(flight.compute_s / inside_s, 4)
                                      if inside_s > 0 else 1.0),
        "optimum": {"bound_full_s": round(best_s), "replay_ratio": ratio(replay.compute_s),
                    "replay_violations": len(replay.violations),
                    "replay_clean": not replay.violations,
                    "replay_unmodelled_exceedances": honest.unmodelled,
                    "tightenings": honest.tightenings,
                    "untightened": {
                        "bound_full_s": round(honest.first_s),
                        "ratio_to_optimum": (round(flight.compute_s / honest.first_s, 4)
                                             if honest.first_s > 0 else 1.0),
                        "replay_violations": len(honest.first_replay.violations)},
                    "model": {n: {"gain_c": round(g, 2), "tau_s": round(tau)}
                              for n, (g, tau) in model.items()}},
        "baselines": {
            "fixed_duty": {"ratio_to_optimum": ratio(fixed.compute_s),
                           "duty": round(duty, 3),
                           "violations": len(fixed.violations)},
            "bang_bang": {"ratio_to_optimum": ratio(bang.compute_s),
                          "violations": len(bang.violations)},
        },
        "flight_violations": flight.violations[:5],
        "days": days,
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def run_bench(days: float, names: list[str] | None = None, workers: int = 2) -> dict[str, Any]:
    names = names or list_profiles()
    if workers > 1 and len(names) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(bench_profile, names, [days] * len(names)))
    else:
        results = [bench_profile(n, days) for n in names]
    return {"days": days, "profiles": dict(zip(names, results, strict=True))}


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def format_table(result: dict[str, Any]) -> str:
    lines = [f"policy benchmark: {result['days']:g} days per profile; compute as a ratio to "
             "the offline optimum (LP bound, tightened until its replay is clean)",
             f"{'profile':<18} {'flight':>7} {'viol':>5} {'in env.':>8} "
             f"{'untight.':>8} {'viol':>5} {'iter':>4} {'LP replay':>10} {'viol':>5} "
             f"{'fixed duty':>11} {'viol':>5} {'bang-bang':>10} {'viol':>5}"]
    for name, p in result["profiles"].items():
        b, o = p["baselines"], p["optimum"]
        fixed, bang, first = b["fixed_duty"], b["bang_bang"], o["untightened"]
        lines.append(
            f"{name:<18} {p['ratio_to_optimum']:>7.3f} {p['violations']:>5} "
            f"{_num(p['ratio_to_envelope_optimum']):>8} "
            f"{first['ratio_to_optimum']:>8.3f} {first['replay_violations']:>5} "
            f"{o['tightenings']:>4} "
            f"{o['replay_ratio']:>10.3f} {o['replay_violations']:>5} "
            f"{fixed['ratio_to_optimum']:>11.3f} {fixed['violations']:>5} "
            f"{bang['ratio_to_optimum']:>10.3f} {bang['violations']:>5}")
    lines.append(f"untight.: the flight over the bare program's bound, and that schedule's "
                 f"replay violations; iter: tightenings (at most {MAX_TIGHTENINGS}); "
                 "LP replay: the final bound's schedule through the real plant")
    return "\n".join(lines)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("policy", help="flight policy's compute vs an offline optimum")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--days", type=float, default=30.0)
    p.add_argument("--profile", action="append", help="only this profile (repeatable)")
    p.add_argument("--workers", type=int, default=2, help="profiles flown in parallel")


def run(args: argparse.Namespace) -> int:
    if not args.days > 0:
        print("aisat bench policy: --days must be positive", file=sys.stderr)
        return 2
    known = list_profiles()
    for name in args.profile or []:
        if name not in known:
            print(f"aisat bench policy: unknown profile {name!r} (known: {', '.join(known)})",
                  file=sys.stderr)
            return 2
    result = run_bench(args.days, args.profile, args.workers)
    print(json.dumps(result) if args.json else format_table(result))
    return 0
