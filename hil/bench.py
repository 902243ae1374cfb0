"""``aisat bench plant``: how much faster than real time the spacecraft plant runs.

Steps a profile's plant alone (no processes) over a 95-minute orbit at 1 s and prints
the achieved multiple of real time, then how the cost scales with the number of thermal
nodes and with the step size. Setup (profile load, first geometry chunk) is included in
the headline figure: it is part of what a run costs. Prints ratios, asserts nothing.

    python -m hil.bench plant [--json] [--profile NAME] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from typing import Any

from flightsw.hal import Actuators
from ground.console import bench as console_bench
from hil import hil_bench, link_bench, policy_bench, recovery_bench, serial_bench, sim_bench
from hil.plant import Plant, Profile, ProfileError, load_profile
from hil.plant.profile import LinkSpec, NodeSpec
from payload import integrity_bench, service_bench

ORBIT_S = 95 * 60.0


def _run(profile: Profile, duration_s: float, dt_s: float) -> tuple[float, float, int]:
    """(wall seconds including setup, wall seconds of setup, steps) for one run."""
    act = Actuators(payload_activity_frac=0.6, heaters_on={"battery": True})
    t0 = time.perf_counter()
    plant = Plant(profile, record=True)
    plant.step(dt_s, act)  # first step builds the first geometry chunk
    t_setup = time.perf_counter() - t0
    steps = 1
    while plant.elapsed_s + dt_s <= duration_s + 1e-9:
        plant.step(dt_s, act)
        steps += 1
    plant.sensors()
    return time.perf_counter() - t0, t_setup, steps


def with_extra_nodes(profile: Profile, total_nodes: int) -> Profile:
    """The profile with a chain of extra nodes hung off the avionics node (for scaling)."""
    thermal = profile.thermal
    extra = max(total_nodes - len(thermal.nodes), 0)
    nodes = list(thermal.nodes)
    links = list(thermal.links)
    previous = "avionics"
    for k in range(extra):
        name = f"extra{k}"
        nodes.append(NodeSpec(name, 500.0, 20.0, None, None))
        links.append(LinkSpec(previous, name, 0.2))
        previous = name
    return replace(profile, thermal=replace(thermal, nodes=tuple(nodes), links=tuple(links)))


def bench_plant(
    profile: str | Profile = "cubesat-jetson",
    *,
    duration_s: float = ORBIT_S,
    dt_s: float = 1.0,
    repeats: int = 3,
    scaling: bool = True,
) -> dict[str, Any]:
    """Benchmark the plant; returns ``realtime_multiple`` and the scaling tables."""
    prof = load_profile(profile) if isinstance(profile, str) else profile
    best = min(_run(prof, duration_s, dt_s) for _ in range(max(repeats, 1)))
    wall_s, setup_s, steps = best
    result: dict[str, Any] = {
        "profile": prof.name,
        "sim_s": duration_s,
        "dt_s": dt_s,
        "steps": steps,
        "wall_s": wall_s,
        "setup_s": setup_s,
        "realtime_multiple": duration_s / wall_s,
        "step_us": 1e6 * (wall_s - setup_s) / max(steps - 1, 1),
        "thermal_nodes": len(prof.thermal.nodes),
    }
    if scaling:
        result["scaling_nodes"] = [
            {
                "nodes": n,
                "realtime_multiple": duration_s
                / min(_run(with_extra_nodes(prof, n), duration_s, dt_s)[0] for _ in range(2)),
            }
            for n in (len(prof.thermal.nodes), 10, 20, 40)
        ]
        result["scaling_dt"] = [
            {
                "dt_s": dt,
                "realtime_multiple": duration_s
                / min(_run(prof, duration_s, dt)[0] for _ in range(2)),
            }
            for dt in (0.25, 1.0, 10.0, 60.0)
        ]
    return result


def _format(result: dict[str, Any]) -> str:
    lines = [
        f"plant benchmark: profile {result['profile']}, {result['sim_s'] / 60:.0f} min at "
        f"{result['dt_s']:g} s ({result['steps']} steps, {result['thermal_nodes']} nodes)",
        f"  realtime multiple   {result['realtime_multiple']:,.0f}x "
        f"(wall {result['wall_s'] * 1e3:.1f} ms incl. setup {result['setup_s'] * 1e3:.1f} ms)",
        f"  per step            {result['step_us']:.1f} us",
    ]
    if "scaling_nodes" in result:
        lines.append("  thermal nodes -> realtime multiple")
        for row in result["scaling_nodes"]:
            lines.append(f"    {row['nodes']:>4}  {row['realtime_multiple']:>10,.0f}x")
        lines.append("  step size -> realtime multiple")
        for row in result["scaling_dt"]:
            lines.append(f"    {row['dt_s']:>6g} s  {row['realtime_multiple']:>10,.0f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="aisat bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="what", required=True)
    plant = sub.add_parser("plant", help="benchmark the simulated spacecraft alone")
    plant.add_argument("--json", action="store_true", help="print one JSON object")
    plant.add_argument("--profile", default="cubesat-jetson")
    plant.add_argument("--repeats", type=int, default=3)
    plant.add_argument("--no-scaling", action="store_true", help="headline figure only")
    benches = {"recovery": recovery_bench, "policy": policy_bench, "serial": serial_bench,
               "integrity": integrity_bench, "hil": hil_bench, "link": link_bench,
               "console": console_bench, "payload": service_bench, "sim": sim_bench}
    for bench in benches.values():  # each module adds its own subcommand and options
        bench.add_parser(sub)
    args = parser.parse_args(argv)
    if args.what in benches:
        return int(benches[args.what].run(args))
    try:
        result = bench_plant(args.profile, repeats=args.repeats, scaling=not args.no_scaling)
    except ProfileError as exc:
        print(f"aisat bench: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result) if args.json else _format(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
