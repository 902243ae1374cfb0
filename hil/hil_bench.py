"""``aisat bench hil``: what the board in the loop does, on whatever board it runs on.

- Inference throughput per watt: the shipped model run flat out for a while at each
  onnxruntime thread count, while the board's input power is sampled (``VDD_IN`` on a
  Jetson, the PMIC on a Pi 5). On the virtual board (the default on a computer that is
  not a board) the watts are the heat model's (:mod:`hil.board_heat`), driven by this
  process's measured CPU time: a modelled figure, said so in the output.
- The thermal step: the executive (in-process harness) flying on the live virtual board,
  the board's surroundings stepped from 20 C to 45 C: cycles (1 s each) until the
  throttle acts and until it settles, and where it settles. Counted in cycles, so the
  figure is the control loop's, not the host's speed.
- The serial link: framing overhead and goodput at 115200 and 921600 baud, computed and
  measured over a pty (:mod:`hil.serial_bench`).

Prints ratios and figures, asserts nothing.

    python -m hil.bench hil [--json] [--seconds S] [--root /]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flightsw.board.detect import Board, detect
from flightsw.board.hybrid import BoardSensing
from flightsw.board.sensors import read_board
from hil.board_heat import BoardHeat, CpuMeter, HeatModel, set_ambient_c
from hil.virtual_board import build_tree

THREADS = (1, 2)
STEP_FROM_C = 20.0
STEP_TO_C = 45.0
PAYLOAD_CORES = 2.0  # the virtual payload's load at full activity, in busy cores
SAMPLE_S = 0.25


@dataclass
class StepResponse:
    """The closed loop's answer to a thermal step, cycle by cycle (1 s cycles)."""

    levels: list[float] = field(default_factory=list)  # throttle level after each cycle
    temps_c: list[float] = field(default_factory=list)  # the board's temperature
    step_at: int = 0  # the cycle the step came at

    @property
    def cycles_to_act(self) -> int | None:
        """Cycles from the step until the throttle first eased off (level < 0.99)."""
        after = self.levels[self.step_at:]
        return next((i + 1 for i, lvl in enumerate(after) if lvl < 0.99), None)

    def cycles_to_settle(self, window: int = 30, band: float = 0.02) -> int | None:
        """Cycles from the step until the level stays within ``band`` for ``window``."""
        after = self.levels[self.step_at:]
        for i in range(len(after) - window):
            run = after[i:i + window]
            if max(run) - min(run) <= band and run[0] < 0.99:
                return i + 1
        return None


def thermal_step_response(tree: Path, *, before: int = 150, after: int = 400,
                          cores: float = PAYLOAD_CORES) -> StepResponse:
    """Fly the in-process executive on the virtual board at ``tree`` (its payload's load
    is what the throttle allows it), then step the board's surroundings."""
    from flightsw.harness import Harness, nominal_sensors

    h = Harness(sensors=nominal_sensors(payload_temp_c=0.0))  # the plant's number unused
    h.executive.board_sensing = BoardSensing(detect(tree), min_interval_s=0.0)

    def load() -> float:
        payload = h.payload.current
        return 0.0 if payload is None else cores * payload.config.throttle_frac

    cool = HeatModel(ambient_c=STEP_FROM_C)
    heat = BoardHeat(tree, cool, load, start_c=30.0)
    set_ambient_c(tree, STEP_FROM_C)
    out = StepResponse(step_at=before)
    for i in range(before + after):
        if i == before:
            set_ambient_c(tree, STEP_TO_C)
        heat.turn(1.0)
        h.run(1)
        out.levels.append(h.core.state.throttle.level_frac)
        out.temps_c.append(heat.state.temp_c)
    return out


def inference_per_watt(board: Board, seconds: float, threads: int,
                       heat: BoardHeat | None) -> dict[str, Any]:
    """The shipped model flat out for ``seconds`` at ``threads`` intra-op threads, the
    board's input power sampled every :data:`SAMPLE_S` (from the heat model's tree on
    the virtual board, stepped by this process's CPU time)."""
    from payload.camera import capture
    from payload.model import load_model

    model = load_model(intra_op_threads=threads)
    tiles = capture(16, seed=1, lat_deg=45.0, lon_deg=0.0).tiles
    for _ in range(5):
        model.infer(tiles)
    powers: list[float] = []
    done = 0
    cpu0 = time.process_time()
    t0 = last = time.monotonic()
    while (now := time.monotonic()) - t0 < seconds:
        model.infer(tiles)
        done += len(tiles)
        if now - last >= SAMPLE_S:
            if heat is not None:
                heat.turn(now - last)
            powers.append(read_board(board).input_power_w)
            last = now
    wall = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    good = [p for p in powers if math.isfinite(p)]
    mean_w = sum(good) / len(good) if good else math.nan
    rate = done / wall
    return {"threads": threads, "tiles_per_s": rate, "busy_cores": cpu / wall,
            "mean_power_w": mean_w, "samples": len(good),
            "tiles_per_joule": rate / mean_w if good else None}


def bench_hil(seconds: float = 3.0, root: str | None = None) -> dict[str, Any]:
    from hil import serial_bench

    with tempfile.TemporaryDirectory(prefix="aisat-hil-bench-") as tmp:
        virtual = root is None
        tree = Path(root) if root else build_tree(Path(tmp) / "board", "jetson-orin-nano",
                                                  marker=True)
        board = detect(tree)
        heat = None
        if virtual:
            meter = CpuMeter(os.getpid, cpu_s=lambda _pid: time.process_time())
            heat = BoardHeat(tree, HeatModel(time_constant_s=2.0), meter.busy_cores)
        rows = [inference_per_watt(board, seconds, n, heat) for n in THREADS]
        step_tree = build_tree(Path(tmp) / "step", "jetson-orin-nano", marker=True)
        step = thermal_step_response(step_tree)
    serial = serial_bench.bench_serial(seconds)
    mix = serial["computed"]["mix"]
    return {
        "board": board.profile.name + (f" (emulating {board.emulates})"
                                       if board.emulates else ""),
        "power_source": "heat model of measured CPU time (virtual board)" if virtual
        else "the board's rails",
        "inference": rows,
        "thermal_step": {"from_c": STEP_FROM_C, "to_c": STEP_TO_C,
                         "cycles_to_act": step.cycles_to_act,
                         "cycles_to_settle": step.cycles_to_settle(),
                         "settled_level": step.levels[-1], "settled_temp_c": step.temps_c[-1],
                         "peak_temp_c": max(step.temps_c[step.step_at:])},
        "serial": {"overhead_pct": mix["overhead_pct"],
                   "goodput_Bps_115200": mix["goodput_Bps_115200"],
                   "goodput_Bps_921600": mix["goodput_Bps_921600"],
                   "pty_payload_Bps": serial["pty"]["payload_Bps"],
                   "pty_x_line_921600": serial["pty"]["x_line_921600"]},
    }


def _format(r: dict[str, Any]) -> str:
    lines = [f"aisat bench hil: {r['board']}; power from {r['power_source']}",
             "  threads  tiles/s  busy cores  power W  tiles/J"]
    for row in r["inference"]:
        per_j = row["tiles_per_joule"]
        lines.append(f"  {row['threads']:>7}  {row['tiles_per_s']:>7.0f}  "
                     f"{row['busy_cores']:>10.2f}  {row['mean_power_w']:>7.2f}  "
                     + (f"{per_j:>7.1f}" if per_j is not None else "      -"))
    s = r["thermal_step"]
    lines.append(f"  thermal step {s['from_c']:.0f} -> {s['to_c']:.0f} C around the board: "
                 f"throttle acted after {s['cycles_to_act']} cycles, settled after "
                 f"{s['cycles_to_settle']} at level {s['settled_level']:.2f}, "
                 f"{s['settled_temp_c']:.1f} C (peak {s['peak_temp_c']:.1f} C)")
    c = r["serial"]
    lines.append(f"  serial: framing overhead {c['overhead_pct']:.2f} % of the downlink mix; "
                 f"goodput {c['goodput_Bps_115200']:,.0f} B/s at 115200, "
                 f"{c['goodput_Bps_921600']:,.0f} B/s at 921600; over a pty "
                 f"{c['pty_payload_Bps']:,.0f} B/s = {c['pty_x_line_921600']:.1f}x the "
                 f"921600 line")
    return "\n".join(lines)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("hil", help="the board in the loop: inference per watt, thermal step "
                       "to throttle, serial goodput")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--seconds", type=float, default=3.0,
                   help="measuring time per figure (default 3)")
    p.add_argument("--root", default=None,
                   help="a board's tree (/ on a board); default: the virtual board")


def run(args: argparse.Namespace) -> int:
    if not args.seconds > 0:
        print("aisat bench hil: --seconds must be positive", file=sys.stderr)
        return 2
    if args.root is not None and not Path(args.root).is_dir():
        print(f"aisat bench hil: --root {args.root} is not a directory", file=sys.stderr)
        return 2
    result = bench_hil(args.seconds, args.root)
    print(json.dumps(result) if args.json else _format(result))
    return 0


__all__ = ["StepResponse", "add_parser", "bench_hil", "run", "thermal_step_response"]
