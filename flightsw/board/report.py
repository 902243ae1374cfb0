"""``aisat board``'s text: what was found on this board and what will be used."""

from __future__ import annotations

import math

from flightsw.board.actuate import read_mode_table
from flightsw.board.detect import Board
from flightsw.board.sensors import BoardSensors


def _c(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f} C"


def describe(board: Board, sensors: BoardSensors) -> str:
    eff = board.effective
    lines = [f"board      {board.model or '(no device tree model)'}"]
    if board.compatible:
        lines.append(f"compatible {', '.join(board.compatible)}")
    if board.l4t_release:
        lines.append(f"L4T        {board.l4t_release}")
    used = board.profile.name + (f" (emulating {board.emulates})" if board.emulates else "")
    lines += [f"profile    {used}: {eff.description} [by {board.matched_by}]",
              f"reads      {', '.join(eff.sensors)}",
              f"actuates   {', '.join(eff.actuators)}"]
    for z in sensors.thermal:
        lines.append(f"  thermal  {z.name:<18} {z.offline or _c(z.temp_c)}")
    for r in sensors.rails:
        lines.append(f"  rail     {r.name:<18} {r.voltage_v:.3f} V {r.current_a:.3f} A "
                     f"{r.power_w:.2f} W ({r.source})")
    for g in sensors.gpus:
        load = "-" if math.isnan(g.load_frac) else f"{100 * g.load_frac:.1f} %"
        lines.append(f"  gpu      {g.device:<18} load {load} at {g.cur_freq_hz / 1e6:.0f} of "
                     f"{g.max_freq_hz / 1e6:.0f} MHz")
    if sensors.cpus:
        cur = ", ".join(f"{c.cur_khz / 1e3:.0f}" for c in sensors.cpus)
        lines.append(f"  cpu MHz  {cur} (max {sensors.cpus[0].scaling_max_khz / 1e3:.0f})")
    fw = sensors.firmware
    if fw is not None and fw.throttled is not None:
        lines.append(f"  firmware throttled now: {', '.join(sorted(fw.throttled.now)) or 'no'};"
                     f" since boot: {', '.join(sorted(fw.throttled.since_boot)) or 'no'}")
    lines.append(f"compute    hottest {_c(sensors.hottest_c)}, input power "
                 + ("-" if math.isnan(sensors.input_power_w)
                    else f"{sensors.input_power_w:.2f} W"))
    if "nvpmodel" in eff.actuators:
        table = read_mode_table(board.root)
        modes = ", ".join(f"{m.id}={m.name}" + (" (default)" if m.id == table.default_id else "")
                          for m in table.modes)
        lines.append(f"  nvpmodel modes: {modes or 'none'}")
        problems = [*board.problems, *sensors.problems, *table.problems]
    else:
        problems = [*board.problems, *sensors.problems]
    for p in problems:
        lines.append(f"problem    {p}")
    return "\n".join(lines)


__all__ = ["describe"]
