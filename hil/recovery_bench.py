"""``aisat bench recovery``: how long from a fault to a healthy payload again.

A fault is injected into a running system many times; each trial measures

- *detection*: from the fault to the executive's ``payload.died`` event;
- *restart*: from there to the ``payload.ready`` event of the new child (spawn, imports,
  model load and its dry inference);

and prints p50/p99 of each and of the total, against the targets: detection within
the configured heartbeat timeout, recovery within timeout + model load + 0.5 s.

Kinds:

- ``crash``: ``kill -9`` of the payload child;
- ``hang``: ``SIGSTOP`` of the payload child (only the heartbeat can tell);
- ``executive``: ``kill -9`` of the executive itself, under a launcher that restarts
  it as systemd would (:mod:`hil.service`); recovery ends at the first ready heartbeat
  of the new executive's payload.

Payload trials run a real executive shell in this process, on wall time, with a real
``python -m payload`` child, a synthetic sensor feed and an in-memory ground. Between
trials the operator's ``payload.clear_faults`` resets the backoff and the escalation
ladder, so each trial measures one isolated fault (repeated faults back off and
escalate by design; the tests cover that).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flightsw.clock import RealClock
from flightsw.config import FlightConfig
from flightsw.executive import Executive
from flightsw.harness import nominal_sensors
from flightsw.payload_host import ProcessPayloadHost
from flightsw.transport import memory_pair
from flightsw.wire import Envelope, Kind, Sequencer, try_decode

KINDS = ("crash", "hang", "executive")
MIN_TRIALS = 20
READY_TIMEOUT_S = 60.0


@dataclass
class Trial:
    detect_s: float
    restart_s: float

    @property
    def total_s(self) -> float:
        return self.detect_s + self.restart_s


@dataclass
class Series:
    kind: str
    trials: list[Trial] = field(default_factory=list)
    model_load_s: list[float] = field(default_factory=list)

    def summary(self, heartbeat_timeout_s: float) -> dict[str, Any]:
        detect = [t.detect_s for t in self.trials]
        restart = [t.restart_s for t in self.trials]
        total = [t.total_s for t in self.trials]
        load = _pct(self.model_load_s, 50) if self.model_load_s else _pct(restart, 50)
        bound_detect = heartbeat_timeout_s
        bound_total = heartbeat_timeout_s + load + 0.5
        return {
            "p50_s": _pct(total, 50), "p99_s": _pct(total, 99),
            "detect_p50_s": _pct(detect, 50), "detect_p99_s": _pct(detect, 99),
            "restart_p50_s": _pct(restart, 50), "restart_p99_s": _pct(restart, 99),
            "trials": len(self.trials),
            "target_detect_s": round(bound_detect, 3),
            "target_total_s": round(bound_total, 3),
            "met": bool(total) and _pct(detect, 99) <= bound_detect
            and _pct(total, 99) <= bound_total,
        }


def _pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank): p99 of 20 trials is the worst one."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return round(ordered[rank - 1], 4)


class PayloadRig:
    """A real executive shell on wall time, a real payload child, fake plant and ground."""

    def __init__(self, cfg: FlightConfig, run_dir: Path) -> None:
        self.clock = RealClock()
        plant_exec, self.plant = memory_pair()
        link_exec, self.ground = memory_pair()
        self.ground.keep_sent = False
        self.host = ProcessPayloadHost(run_dir=run_dir)
        self.executive = Executive(cfg, clock=self.clock, plant=plant_exec, link=link_exec,
                                   payload=self.host, lockstep=False, profile="bench")
        self.executive.core.start_at(self.clock.monotonic_s())
        self._plant_seq = Sequencer("plant")
        self._ground_seq = Sequencer("ground")
        self._next_sample_s = 0.0
        self.events: list[tuple[str, dict[str, Any], float]] = []  # name, args, mission s

    def turn(self) -> None:
        now = self.clock.monotonic_s()
        if now >= self._next_sample_s:
            self._next_sample_s = now + 1.0
            self.plant.send(self._plant_seq.pack(Kind.SENSORS, self.clock.mission_time_s(),
                                                 {"sensors": nominal_sensors().to_body()}))
        self.executive.turn_free(wait=True)
        self.executive.announce_boot()  # idempotent; mission time is known after a sample
        self.plant.receive()
        for frame in self.ground.receive(max_frames=100_000):
            env = try_decode(frame)
            if isinstance(env, Envelope) and env.kind is Kind.EVENT:
                self.events.append((str(env.body.get("name")), dict(env.body.get("args", {})),
                                    env.time_s))

    def wait_event(self, name: str, after_s: float, timeout_s: float = READY_TIMEOUT_S
                   ) -> tuple[dict[str, Any], float]:
        deadline = self.clock.monotonic_s() + timeout_s
        while self.clock.monotonic_s() < deadline:
            for ev_name, args, t in self.events:
                if ev_name == name and t >= after_s:
                    return args, t
            self.turn()
        raise TimeoutError(f"no {name} within {timeout_s:.0f} s")

    def command(self, name: str) -> None:
        self.ground.send(self._ground_seq.pack(Kind.COMMAND, self.clock.mission_time_s(),
                                               {"name": name, "args": {}}))

    def settle(self, seconds: float) -> None:
        end = self.clock.monotonic_s() + seconds
        while self.clock.monotonic_s() < end:
            self.turn()

    def close(self) -> None:
        self.executive.shutdown()


def run_payload_trials(kind: str, trials: int, cfg: FlightConfig,
                       log: Any = None) -> Series:
    series = Series(kind)
    with tempfile.TemporaryDirectory(prefix="aisat-bench-") as tmp:
        rig = PayloadRig(cfg, Path(tmp))
        try:
            rig.wait_event("payload.ready", after_s=0.0)
            for i in range(trials):
                rig.settle(1.5)  # a heartbeat or two on the new child first
                pid = rig.host.pid
                assert pid is not None
                t_fault = rig.clock.mission_time_s()
                os.kill(pid, signal.SIGKILL if kind == "crash" else signal.SIGSTOP)
                _, t_died = rig.wait_event("payload.died", after_s=t_fault)
                _, t_ready = rig.wait_event("payload.ready", after_s=t_died)
                if kind == "hang":
                    try:
                        os.kill(pid, signal.SIGKILL)  # the host sent it; make sure
                    except ProcessLookupError:
                        pass
                series.trials.append(Trial(t_died - t_fault, t_ready - t_died))
                started = [t for n, _, t in rig.events if n == "payload.started" and t >= t_died]
                if started:
                    series.model_load_s.append(t_ready - started[0])
                if log is not None:
                    log(f"  {kind} {i + 1}/{trials}: detected in {t_died - t_fault:.3f} s, "
                        f"ready {t_ready - t_died:.3f} s later")
                rig.command("payload.clear_faults")
                rig.settle(0.3)
        finally:
            rig.close()
    return series


def run_executive_trials(trials: int, cfg: FlightConfig, log: Any = None) -> Series:
    """kill -9 of a real executive under the launcher's restart policy."""
    from hil.recovery_stack import executive_recovery_trials

    return executive_recovery_trials(trials, cfg, log=log)


def bench_recovery(kinds: tuple[str, ...] = KINDS, trials: int = MIN_TRIALS,
                   heartbeat_timeout_s: float = 5.0, log: Any = None) -> dict[str, Any]:
    cfg = FlightConfig(heartbeat_timeout_s=heartbeat_timeout_s, restart_backoff_s=0.5,
                       restarts_to_degrade=1_000, restarts_to_lockout=1_001)
    out: dict[str, Any] = {"trials": trials, "heartbeat_timeout_s": heartbeat_timeout_s}
    for kind in kinds:
        if kind == "executive":
            series = run_executive_trials(trials, cfg, log=log)
        else:
            series = run_payload_trials(kind, trials, cfg, log=log)
        out[kind] = series.summary(heartbeat_timeout_s)
    return out


def format_result(result: dict[str, Any]) -> str:
    lines = [f"recovery benchmark: {result['trials']} trials per fault, heartbeat timeout "
             f"{result['heartbeat_timeout_s']:g} s",
             f"  {'fault':<10} {'detect p50/p99':>16} {'restart p50/p99':>17} "
             f"{'total p50/p99':>15}   target",
             ]
    for kind in KINDS:
        r = result.get(kind)
        if r is None:
            continue
        lines.append(
            f"  {kind:<10} {r['detect_p50_s']:>7.3f}/{r['detect_p99_s']:<7.3f} s "
            f"{r['restart_p50_s']:>7.3f}/{r['restart_p99_s']:<7.3f} s "
            f"{r['p50_s']:>6.3f}/{r['p99_s']:<6.3f} s   "
            f"detect <= {r['target_detect_s']:g} s, total <= {r['target_total_s']:.2f} s: "
            f"{'met' if r['met'] else 'MISSED'}")
    return "\n".join(lines)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("recovery", help="fault-to-healthy times for payload crash, payload "
                       "hang and executive crash")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--trials", type=int, default=MIN_TRIALS,
                   help=f"trials per fault (default {MIN_TRIALS})")
    p.add_argument("--kinds", default=",".join(KINDS),
                   help=f"comma-separated subset of {','.join(KINDS)}")
    p.add_argument("--heartbeat-timeout-s", type=float, default=5.0)


def run(args: argparse.Namespace) -> int:
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        print(f"aisat bench recovery: unknown fault kind {unknown[0] if unknown else '(none)'}"
              f"; choose from {', '.join(KINDS)}", file=sys.stderr)
        return 2
    if args.trials < 1:
        print("aisat bench recovery: --trials must be at least 1", file=sys.stderr)
        return 2
    if not args.heartbeat_timeout_s >= 1.0:
        print("aisat bench recovery: --heartbeat-timeout-s must be at least 1", file=sys.stderr)
        return 2

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    result = bench_recovery(kinds, args.trials, args.heartbeat_timeout_s,
                            log=None if args.json else log)
    if args.trials < MIN_TRIALS:
        result["note"] = f"fewer than {MIN_TRIALS} trials: percentiles are rough"
    print(json.dumps(result) if args.json else format_result(result))
    return 0
