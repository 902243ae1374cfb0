"""``aisat bench recovery``: how long from a fault to a healthy payload again.

A fault is injected into a running system many times; each trial measures

- *detection*: from the fault to the executive's ``payload.died`` event;
- *restart*: from there to the ``payload.ready`` event of the new child (spawn, imports,
  model load and its dry inference);

and prints p50/p99 of each and of the total, against the targets: detection within
the configured heartbeat timeout, recovery within timeout + model load + 0.5 s (for
the executive, plus the launcher's ``RestartSec``, which systemd waits by policy).

Kinds:

- ``crash``: ``kill -9`` of the payload child;
- ``hang``: ``SIGSTOP`` of the payload child (only the heartbeat can tell);
- ``executive``: ``kill -9`` of the executive itself in the sim stack, under the
  launcher that restarts it as systemd would (:mod:`hil.service_manager`); recovery
  ends when the ground has the new executive's payload's ready heartbeat.

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
from dataclasses import dataclass, field, replace
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

    def summary(self, heartbeat_timeout_s: float, model_load_s: float,
                extra_s: float = 0.0) -> dict[str, Any]:
        """``model_load_s``: the payload's measured spawn-to-ready time; ``extra_s``: a
        delay the fault's recovery includes by policy (systemd's RestartSec)."""
        detect = [t.detect_s for t in self.trials]
        restart = [t.restart_s for t in self.trials]
        total = [t.total_s for t in self.trials]
        bound_detect = heartbeat_timeout_s
        bound_total = heartbeat_timeout_s + model_load_s + extra_s + 0.5
        return {
            "p50_s": _pct(total, 50), "p99_s": _pct(total, 99),
            "detect_p50_s": _pct(detect, 50), "detect_p99_s": _pct(detect, 99),
            "restart_p50_s": _pct(restart, 50), "restart_p99_s": _pct(restart, 99),
            "trials": len(self.trials),
            "model_load_p50_s": round(model_load_s, 3),
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


EXECUTIVE_PROFILE = "orbital-dc-node"
"""Its always-on relay carries the downlink out of contact, so the ground sees the new
executive's events at any time."""


def run_executive_trials(trials: int, log: Any = None) -> Series:
    """kill -9 of a real executive in the sim stack, under the launcher's restart policy
    (systemd's, :data:`hil.service_policy.FLIGHTSW`) with its start limit lifted so that
    the trials can follow each other. *Detection*: until the launcher acts on the death;
    *restart*: until the ground archives the new executive's ``payload.ready`` (restart
    delay, boot, state restore, payload spawn and model load, downlink)."""
    from ground.api import Ops
    from ground.archive_reader import Mark
    from hil.service_policy import FLIGHTSW
    from hil.stack import Stack, StackOptions

    policy = replace(FLIGHTSW, start_limit_burst=trials + 5)
    wall = RealClock()
    series = Series("executive")
    with tempfile.TemporaryDirectory(prefix="aisat-bench-") as tmp:
        stack = Stack.start(StackOptions(profile=EXECUTIVE_PROFILE, lockstep=False,
                                         run_dir=Path(tmp) / "run", service_policy=policy))
        try:
            service = stack.service
            assert service is not None
            with Ops(stack.info.run_dir) as ops:
                ops.wait_event("payload.ready", timeout_s=READY_TIMEOUT_S, since=Mark())
                for i in range(trials):
                    wall.sleep_s(1.0)
                    proc = service.proc
                    assert proc is not None
                    notes = len(service.history)
                    mark = ops.mark()
                    t_fault = wall.monotonic_s()
                    os.kill(proc.pid, signal.SIGKILL)
                    while len(service.history) == notes:
                        if wall.monotonic_s() - t_fault > READY_TIMEOUT_S:
                            raise TimeoutError("the launcher did not notice the death")
                        wall.sleep_s(0.002)
                    t_detect = wall.monotonic_s()
                    ready = ops.wait_event("payload.ready", timeout_s=READY_TIMEOUT_S,
                                           since=mark)
                    t_ready = wall.monotonic_s()
                    started = ops.wait_event("payload.started", timeout_s=1.0, since=mark)
                    # event stamps free running follow the plant's 1 s steps: coarse
                    series.model_load_s.append(max(ready.time_s - started.time_s, 0.0))
                    series.trials.append(Trial(t_detect - t_fault, t_ready - t_detect))
                    if log is not None:
                        log(f"  executive {i + 1}/{trials}: noticed in "
                            f"{t_detect - t_fault:.3f} s, payload ready "
                            f"{t_ready - t_detect:.3f} s later")
        finally:
            stack.stop()
    return series


def bench_recovery(kinds: tuple[str, ...] = KINDS, trials: int = MIN_TRIALS,
                   heartbeat_timeout_s: float = 5.0, log: Any = None) -> dict[str, Any]:
    cfg = FlightConfig(heartbeat_timeout_s=heartbeat_timeout_s, restart_backoff_s=0.5,
                       restarts_to_degrade=1_000, restarts_to_lockout=1_001)
    out: dict[str, Any] = {"trials": trials, "heartbeat_timeout_s": heartbeat_timeout_s}
    loads: list[float] = []  # spawn-to-ready of the payload, precise in the payload trials
    for kind in sorted(kinds, key=KINDS.index):
        if kind == "executive":
            from hil.service_policy import FLIGHTSW

            series = run_executive_trials(trials, log=log)
            load = _pct(loads or series.model_load_s, 50)
            out[kind] = series.summary(heartbeat_timeout_s, load, extra_s=FLIGHTSW.restart_s)
        else:
            series = run_payload_trials(kind, trials, cfg, log=log)
            loads += series.model_load_s
            out[kind] = series.summary(heartbeat_timeout_s, _pct(series.model_load_s, 50))
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
