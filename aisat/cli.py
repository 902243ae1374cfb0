"""``aisat``: run the sim stack, operate it, export the dictionary, benchmark.

    aisat up                      start the local stack on wall time; Ctrl-C stops it
    aisat sim --orbits 2          run the stack in lockstep on sim time, print a summary
    aisat audit                   every limit violation of a finished run, with times
    aisat ground cmd|tlm|events   operate a running stack
    aisat dictionary              print the command/telemetry/event dictionary (JSON)
    aisat profiles                list spacecraft profiles
    aisat bench plant             benchmark the spacecraft plant
    aisat board                   the board found here and the profile that will be used
"""

from __future__ import annotations

import argparse
import json
import math
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


def version() -> str:
    """The installed distribution's version; the source tree's when not installed."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("aisat")
    except PackageNotFoundError:
        from flightsw import __version__

        return __version__


def positive_finite(text: str) -> float:
    """argparse type: a number > 0 that is not inf or nan (a speed, a duration)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return value


def model_file(text: str) -> str:
    """argparse type: an ONNX model file that exists and can be read, with its card."""
    from hil.stack import StackError, check_model_path

    try:
        check_model_path(text)
    except StackError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aisat", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"aisat {version()}")
    sub = p.add_subparsers(title="commands")

    up = sub.add_parser("up", help="start the local sim stack on wall time (Ctrl-C stops it)")
    _stack_args(up)
    up.add_argument("--speed", type=positive_finite, default=1.0,
                    help="simulated seconds per wall second (default 1)")
    up.add_argument("--duration-s", type=positive_finite, default=None,
                    help="stop by itself after this much sim time")
    up.set_defaults(func=_cmd_up)

    sim = sub.add_parser("sim", help="run the stack in lockstep on sim time, then summarise")
    _stack_args(sim)
    sim.add_argument("--orbits", type=positive_finite, default=1.0,
                     help="orbits to fly (default 1)")
    sim.add_argument("--speed", type=positive_finite, default=None,
                     help="pace to this multiple of real time (default: as fast as possible)")
    sim.add_argument("--report", type=Path, help="write a self-contained HTML report here")
    sim.add_argument("--json", action="store_true",
                     help="print the summary as JSON (and no progress line)")
    sim.set_defaults(func=_cmd_sim)

    au = sub.add_parser("audit", help="every limit violation of a finished run, from the "
                        "plant's truth and the ground archive, with times")
    au.add_argument("--run-dir", type=Path, default=None, help="the finished run's directory")
    au.add_argument("--json", action="store_true", help="print the audit as JSON")
    au.set_defaults(func=_cmd_audit)

    sub.add_parser("ground", help="operate a running stack: cmd, tlm, events "
                   "(aisat ground --help)")
    sub.add_parser("bench", help="benchmarks (aisat bench plant [--json])")

    d = sub.add_parser("dictionary", help="print the dictionary as versioned JSON")
    d.add_argument("--profile", default=DEFAULT_PROFILE,
                   help="spacecraft profile whose limits to use")
    d.add_argument("-o", "--output", type=Path, help="write to a file instead of stdout")
    d.set_defaults(func=_cmd_dictionary)

    co = sub.add_parser("console", help="the operator console in a browser "
                        "(default http://127.0.0.1:8080)")
    co.add_argument("--run-dir", type=Path, default=None, help="the stack's run directory")
    co.add_argument("--host", default="127.0.0.1",
                    help="address to bind (not loopback: needs the ground's ops token)")
    co.add_argument("--port", type=int, default=8080, choices=range(1, 65536), metavar="PORT")
    co.set_defaults(func=_cmd_console)

    pr = sub.add_parser("profiles", help="list the shipped spacecraft profiles")
    pr.set_defaults(func=_cmd_profiles)

    bd = sub.add_parser("board", help="detect this board, read its sensors, say which "
                        "profile will be used")
    bd.add_argument("--root", type=Path, default=Path("/"),
                    help="read sysfs/procfs under this directory (a virtual board's tree)")
    bd.add_argument("--json", action="store_true", help="print one JSON object")
    bd.add_argument("--cpu-max-khz", type=positive_finite, default=None,
                    help="first set every CPU's cpufreq ceiling (read back and reported)")
    bd.set_defaults(func=_cmd_board)
    return p


def _stack_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default=DEFAULT_PROFILE,
                   help=f"spacecraft profile name or .toml path (default {DEFAULT_PROFILE})")
    p.add_argument("--run-dir", type=Path, default=None,
                   help="where logs, the archive and stack.json go "
                        "(default $AISAT_RUN_DIR or ~/.local/state/aisat)")
    p.add_argument("--model", type=model_file,
                   help="ONNX model for the payload, its .json card beside it "
                        "(default: the shipped one)")
    p.add_argument("--log-level", default="WARNING")
    p.add_argument("--link", choices=("zmq", "serial"), default="zmq",
                   help="space link: zmq (default), or serial: a UART (pty pair) to the "
                        "host's serial bridge, as on a board")
    p.add_argument("--board", default="none", metavar="auto|none|virtual:PATH",
                   help="the compute's temperature and power from a board (HIL), the "
                        "rest from the plant; none (default): all from the plant")
    p.add_argument("--flight-python", default=None, metavar="PYTHON",
                   help="run the executive and payload under this interpreter (an emulated "
                        "aarch64 board's: hil/aarch64/run_tests.sh --scenario)")
    p.add_argument("--link-faults", default="", metavar="drop=P,flip=P,brk=P,seed=N",
                   help="with --link serial: damage the UART's bytes both ways")


def _run_dir(args: argparse.Namespace) -> Path:
    from flightsw.stackinfo import default_run_dir

    return Path(args.run_dir) if args.run_dir else default_run_dir()


def _options(args: argparse.Namespace, lockstep: bool) -> Any:
    from hil.stack import StackOptions

    return StackOptions(profile=args.profile, lockstep=lockstep, run_dir=_run_dir(args),
                        model=args.model, log_level=args.log_level, speed=args.speed,
                        link=args.link, link_faults=args.link_faults, board=args.board,
                        flight_python=args.flight_python)


STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
"""Ctrl-C, kill, and the terminal closing: each stops the stack in order."""


def _cmd_up(args: argparse.Namespace) -> int:
    import signal

    from aisat.console import CLEAR_TO_EOL, in_place, say, terminal_width
    from flightsw.clock import RealClock
    from flightsw.errors import FlightError
    from hil.plant import ProfileError
    from hil.stack import Stack, StackError, WorldWatcher, status_line

    opts = _options(args, lockstep=False)
    opts.duration_s = args.duration_s
    stopping: list[str] = []

    def on_signal(signum: int, _frame: Any) -> None:
        stopping.append(signal.Signals(signum).name)

    for name in STOP_SIGNALS:
        signal.signal(getattr(signal, name), on_signal)
    try:
        stack = Stack.start(opts)
    except (ProfileError, FlightError, StackError, OSError) as exc:
        say(f"aisat up: {exc}", file=sys.stderr)
        return 2
    clock = RealClock()
    tty = sys.stdout.isatty()
    for note in stack.notes:
        say(f"aisat: {note}")
    say(f"aisat: stack up ({stack.info.profile}, speed {args.speed:g}x); run dir "
        f"{stack.info.run_dir}\n"
        f"       operate it with 'aisat ground tlm', 'aisat ground cmd mode.set mode=SAFE'; "
        f"Ctrl-C stops it.")
    watcher = WorldWatcher(stack.info.world)
    code = 0
    samples: list[tuple[float, int]] = []
    last_line = ""
    last_print = 0.0
    try:
        while not stopping:
            for note in stack.take_service_notes():  # the executive restarted, ...
                say(("\r" + CLEAR_TO_EOL if tty else "") + f"aisat: {note}")
            failed = stack.failed_process()
            if failed:
                say(f"\naisat up: {failed}", file=sys.stderr)
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
            if tty:
                width = terminal_width()
                last_line = status_line(world, rate, width)
                say(in_place(last_line, width), end="")
            else:
                last_line = status_line(world, rate)
                if now - last_print >= 5.0 and world.get("mode"):
                    say(last_line)
                    last_print = now
    finally:
        watcher.close()
        if last_line and not tty:
            say(last_line)
        why = f" ({stopping[0]})" if stopping else ""
        say(f"\naisat: stopping the stack{why} ...")
        stack.stop()
        stats = stack.read_json("exec_stats.json")
        if stats:
            say(f"aisat: stopped. jobs {stats.get('jobs_done')}, records downlinked "
                f"{stats.get('frames_sent')}, payload restarts {stats.get('payload_restarts')}")
    return code


def _cmd_sim(args: argparse.Namespace) -> int:
    import signal

    from aisat.console import say, want_progress
    from flightsw.clock import RealClock
    from flightsw.errors import FlightError
    from hil.plant import ProfileError
    from hil.stack import Stack, StackError, format_summary, mission_summary

    opts = _options(args, lockstep=True)
    opts.orbits = args.orbits
    opts.report = args.report
    notes_to = sys.stderr if args.json else sys.stdout  # stdout stays pure JSON

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    clock = RealClock()
    t0 = clock.monotonic_s()
    try:
        stack = Stack.start(opts)
    except (ProfileError, FlightError, StackError, OSError) as exc:
        say(f"aisat sim: {exc}", file=sys.stderr)
        return 2
    for note in stack.notes:
        say(f"aisat: {note}", file=notes_to)
    progress = _SimProgress(clock, stack.opts.duration_s or 0.0) if want_progress(
        sys.stdout.isatty(), args.json) else None
    def on_note(note: str) -> None:  # a restart of the executive, as it happens
        if progress is not None:
            progress.clear()
        say(f"aisat: {note}", file=notes_to)

    try:
        stack.wait_lockstep(on_world=progress, on_note=on_note)
        wall_s = clock.monotonic_s() - t0
        if progress is not None:
            progress.clear()
        stack.wait_ground_drained()
    except StackError as exc:
        if progress is not None:
            progress.clear()
        say(f"aisat sim: {exc}", file=sys.stderr)
        stack.stop()
        return 1
    except KeyboardInterrupt:
        if progress is not None:
            progress.clear()
        say("\naisat sim: interrupted; stopping the stack", file=sys.stderr)
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
    summary["executive_restarts"] = stack.service.restarts if stack.service else 0
    from hil.limit_audit import for_summary

    summary["limit_audit"], audit_lines = for_summary(stack.info.run_dir)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print("\n".join([format_summary(summary), *audit_lines]))
        if args.report:
            print(f"  report              {Path(args.report).resolve()}")
    if plant.get("plant_error"):
        print(f"aisat sim: {plant['plant_error']}", file=sys.stderr)
        return 1
    return 0 if not summary["violations"] and not summary["limit_audit"]["violations"] else 1


def _cmd_audit(args: argparse.Namespace) -> int:
    from hil.limit_audit import run_cli

    return run_cli(_run_dir(args), args.json)


class _SimProgress:
    """The one-line progress display of ``aisat sim`` on a terminal, redrawn in place at
    most every :attr:`PERIOD_S`; the speed-up counts from the first world seen (so the
    processes' start-up does not drag it down)."""

    PERIOD_S = 0.1

    def __init__(self, clock: Any, total_s: float) -> None:
        self.clock = clock
        self.total_s = total_s
        self.first: tuple[float, float] | None = None  # (wall, sim) at the first world
        self.next_draw_s = 0.0
        self.drawn = False

    def __call__(self, world: Any) -> None:
        from aisat.console import in_place, say, sim_progress_line, terminal_width

        now = self.clock.monotonic_s()
        done_s = float(world.get("elapsed_s") or 0.0)
        if self.first is None:
            self.first = (now, done_s)
        if now < self.next_draw_s:
            return
        self.next_draw_s = now + self.PERIOD_S
        wall0, sim0 = self.first
        line = sim_progress_line(done_s, self.total_s, now - wall0, done_s - sim0)
        say(in_place(line, terminal_width()), end="")
        self.drawn = True

    def clear(self) -> None:
        from aisat.console import CLEAR_TO_EOL, say

        if self.drawn:
            say("\r" + CLEAR_TO_EOL, end="")
            self.drawn = False


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


def _cmd_console(args: argparse.Namespace) -> int:
    from ground.console.server import serve

    return serve(_run_dir(args), args.host, args.port)


def _cmd_profiles(args: argparse.Namespace) -> int:
    from hil.plant import list_profiles

    for name in list_profiles():
        print(name)
    return 0


def _cmd_board(args: argparse.Namespace) -> int:
    from flightsw.board import detect, read_board
    from flightsw.board.report import describe

    if not Path(args.root).is_dir():
        print(f"aisat board: --root {args.root} is not a directory", file=sys.stderr)
        return 2
    from dataclasses import asdict

    from flightsw.board.actuate import set_cpu_max_khz

    done = [] if args.cpu_max_khz is None else set_cpu_max_khz(args.root, args.cpu_max_khz)
    from flightsw.board.vcgencmd import tree_runner

    board = detect(args.root)
    sensors = read_board(board, tree_runner(args.root))
    if args.json:
        print(json.dumps({"board": board.to_dict(), "sensors": sensors.to_dict(),
                          "actuations": [asdict(a) for a in done]}, indent=2))
    else:
        print(describe(board, sensors))
        for a in done:
            print(f"actuated   {a.knob} = {a.requested}: read back {a.read_back or '-'}"
                  + ("" if a.ok else f" (refused: {a.detail})"))
    return 0 if all(a.ok for a in done) else 1
