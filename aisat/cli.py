"""``aisat``: run the sim stack, operate it, export the dictionary, benchmark.

    aisat up                      start the local stack on wall time; Ctrl-C stops it
    aisat sim --orbits 2          run the stack in lockstep on sim time, print a summary
    aisat ground cmd|tlm|events   operate a running stack
    aisat dictionary              print the command/telemetry/event dictionary (JSON)
    aisat profiles                list spacecraft profiles
    aisat bench plant             benchmark the spacecraft plant
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_PROFILE = "cubesat-jetson"


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `aisat ... | head`: the reader left; not an error of ours
        sys.stderr.close()
        return 0


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "ground":  # the ground CLI parses its own arguments
        from ground.cli import main as ground_main

        return int(ground_main(argv[1:]))
    if argv and argv[0] == "bench":
        from hil.bench import main as bench_main

        return int(bench_main(argv[1:]) or 0)
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aisat", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(title="commands")

    up = sub.add_parser("up", help="start the local sim stack on wall time (Ctrl-C stops it)")
    _stack_args(up)
    up.add_argument("--speed", type=float, default=1.0,
                    help="simulated seconds per wall second (default 1)")
    up.add_argument("--duration-s", type=float, default=None,
                    help="stop by itself after this much sim time")
    up.set_defaults(func=_cmd_up)

    sim = sub.add_parser("sim", help="run the stack in lockstep on sim time, then summarise")
    _stack_args(sim)
    sim.add_argument("--orbits", type=float, default=1.0, help="orbits to fly (default 1)")
    sim.add_argument("--speed", type=float, default=None,
                     help="pace to this multiple of real time (default: as fast as possible)")
    sim.add_argument("--report", type=Path, help="write a self-contained HTML report here")
    sim.add_argument("--json", action="store_true", help="print the summary as JSON")
    sim.set_defaults(func=_cmd_sim)

    sub.add_parser("ground", help="operate a running stack: cmd, tlm, events "
                   "(aisat ground --help)")
    sub.add_parser("bench", help="benchmarks (aisat bench plant [--json])")

    d = sub.add_parser("dictionary", help="print the dictionary as versioned JSON")
    d.add_argument("--profile", default=DEFAULT_PROFILE,
                   help="spacecraft profile whose limits to use")
    d.add_argument("-o", "--output", type=Path, help="write to a file instead of stdout")
    d.set_defaults(func=_cmd_dictionary)

    pr = sub.add_parser("profiles", help="list the shipped spacecraft profiles")
    pr.set_defaults(func=_cmd_profiles)
    return p


def _stack_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default=DEFAULT_PROFILE,
                   help=f"spacecraft profile name or .toml path (default {DEFAULT_PROFILE})")
    p.add_argument("--run-dir", type=Path, default=None,
                   help="where logs, the archive and stack.json go "
                        "(default $AISAT_RUN_DIR or ~/.local/state/aisat)")
    p.add_argument("--model", help="ONNX model for the payload (default: the shipped one)")
    p.add_argument("--log-level", default="WARNING")


def _run_dir(args: argparse.Namespace) -> Path:
    from flightsw.stackinfo import default_run_dir

    return Path(args.run_dir) if args.run_dir else default_run_dir()


def _options(args: argparse.Namespace, lockstep: bool) -> Any:
    from hil.stack import StackOptions

    return StackOptions(profile=args.profile, lockstep=lockstep, run_dir=_run_dir(args),
                        model=args.model, log_level=args.log_level, speed=args.speed)


def _cmd_up(args: argparse.Namespace) -> int:
    import signal

    from flightsw.clock import RealClock
    from flightsw.errors import FlightError
    from hil.plant import ProfileError
    from hil.stack import Stack, StackError, WorldWatcher, status_line

    opts = _options(args, lockstep=False)
    opts.duration_s = args.duration_s
    stopping: list[str] = []

    def on_signal(signum: int, _frame: Any) -> None:
        stopping.append(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack = Stack.start(opts)
    except (ProfileError, FlightError, StackError, OSError) as exc:
        print(f"aisat up: {exc}", file=sys.stderr)
        return 2
    clock = RealClock()
    tty = sys.stdout.isatty()
    print(f"aisat: stack up ({stack.info.profile}, speed {args.speed:g}x); run dir "
          f"{stack.info.run_dir}\n"
          f"       operate it with 'aisat ground tlm', 'aisat ground cmd mode.set mode=SAFE'; "
          f"Ctrl-C stops it.", flush=True)
    watcher = WorldWatcher(stack.info.world)
    code = 0
    samples: list[tuple[float, int]] = []
    last_line = ""
    last_print = 0.0
    try:
        while not stopping:
            failed = stack.failed_process()
            if failed:
                print(f"\naisat up: {failed}", file=sys.stderr)
                code = 1
                break
            world = watcher.latest(200)
            if watcher.stopped or stack.procs["plant"].poll() is not None:
                break
            if world is None:
                continue
            now = clock.monotonic_s()
            samples.append((now, int(world.get("jobs_done") or 0)))
            samples = [s for s in samples if now - s[0] <= 10.0]
            rate = None
            if len(samples) >= 2 and samples[-1][0] > samples[0][0]:
                rate = (samples[-1][1] - samples[0][1]) / (samples[-1][0] - samples[0][0])
            line = status_line(world, rate)
            last_line = line
            if tty:
                print("\r" + line[:200].ljust(120), end="", flush=True)
            elif now - last_print >= 5.0 and world.get("mode"):
                print(line, flush=True)
                last_print = now
    finally:
        watcher.close()
        if last_line and not tty:
            print(last_line)
        print("\naisat: stopping the stack ...", flush=True)
        stack.stop()
        stats = stack.read_json("exec_stats.json")
        if stats:
            print(f"aisat: stopped. jobs {stats.get('jobs_done')}, records downlinked "
                  f"{stats.get('frames_sent')}, payload restarts {stats.get('payload_restarts')}")
    return code


def _cmd_sim(args: argparse.Namespace) -> int:
    import signal

    from flightsw.clock import RealClock
    from flightsw.errors import FlightError
    from hil.plant import ProfileError
    from hil.stack import Stack, StackError, format_summary, mission_summary

    opts = _options(args, lockstep=True)
    opts.orbits = args.orbits
    opts.report = args.report
    if args.orbits <= 0:
        print("aisat sim: --orbits must be positive", file=sys.stderr)
        return 2

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    clock = RealClock()
    t0 = clock.monotonic_s()
    try:
        stack = Stack.start(opts)
    except (ProfileError, FlightError, StackError, OSError) as exc:
        print(f"aisat sim: {exc}", file=sys.stderr)
        return 2
    try:
        stack.wait_lockstep()
        wall_s = clock.monotonic_s() - t0
        stack.wait_ground_drained()
    except StackError as exc:
        print(f"aisat sim: {exc}", file=sys.stderr)
        stack.stop()
        return 1
    except KeyboardInterrupt:
        print("\naisat sim: interrupted; stopping the stack", file=sys.stderr)
        stack.stop()
        return 130
    stack.stop()
    from hil.stack import archived_records

    ground = {"records_archived": archived_records(Path(stack.info.archive))}
    plant = stack.read_json("plant_summary.json")
    flight = stack.read_json("exec_stats.json")
    if not plant:
        print("aisat sim: the plant wrote no summary (see plant.log in the run dir)",
              file=sys.stderr)
        return 1
    summary = mission_summary(plant, flight, ground, wall_s)
    summary["profile"] = stack.info.profile
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(format_summary(summary))
        if args.report:
            print(f"  report              {Path(args.report).resolve()}")
    if plant.get("plant_error"):
        print(f"aisat sim: {plant['plant_error']}", file=sys.stderr)
        return 1
    return 0 if not summary["violations"] else 1


def _cmd_dictionary(args: argparse.Namespace) -> int:
    from flightsw.catalog import build_dictionary
    from flightsw.config import FlightConfig
    from hil.plant import ProfileError, load_profile

    try:
        cfg = FlightConfig.from_mapping(load_profile(args.profile).flight)
    except ProfileError as exc:
        print(f"aisat dictionary: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(build_dictionary(cfg).to_json(), indent=2)
    if args.output:
        Path(args.output).write_text(text + "\n")
    else:
        print(text)
    return 0


def _cmd_profiles(args: argparse.Namespace) -> int:
    from hil.plant import list_profiles

    for name in list_profiles():
        print(name)
    return 0
