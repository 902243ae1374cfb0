"""How the executive is kept running: systemd's service policy as a pure state machine.

On a board, systemd supervises the executive (``hil/systemd/aisat-flightsw.service``:
``Type=notify``, ``WatchdogSec=``, ``Restart=on-failure``, ``RestartSec=``,
``StartLimitBurst=``/``StartLimitIntervalSec=``). In the sim stack the launcher
(:mod:`hil.stack`) plays systemd with *this* policy, so a kill -9 of the executive is a
reset there too, not the end of the mission. The numbers are defined once, here
(:data:`FLIGHTSW`); a test checks that the unit file says the same.

The machine is data: :data:`TABLE` maps (unit state, trigger) to a transition; one
function, :func:`step`, applies it. A pair not in the table changes nothing (a
``WATCHDOG=1`` from a process being killed, a second exit report). No I/O: the launcher
reads the notify socket and the process, feeds triggers in, and carries out the actions
that come back (spawn, SIGABRT, SIGKILL, give up).

::

    INACTIVE --start--> STARTING --READY=1--> RUNNING --WATCHDOG=1--> RUNNING
    STARTING/RUNNING --STOPPING=1--> STOPPING (no kicks expected; TimeoutStopSec to exit)
    STARTING/RUNNING/STOPPING --exit 0 or clean signal--> EXITED  (not restarted)
    STARTING/RUNNING --failed exit--> AUTO_RESTART --RestartSec--> STARTING
    STARTING --TimeoutStartSec--> ABORTING;  RUNNING --WatchdogSec--> ABORTING (SIGABRT)
    STOPPING --TimeoutStopSec--> ABORTING
    ABORTING --TimeoutAbortSec--> ABORTING (SIGKILL);  ABORTING --exit--> AUTO_RESTART
    start with StartLimitBurst starts already in StartLimitIntervalSec --> FAILED (give up)
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum


@dataclass(frozen=True)
class ServicePolicy:
    """A unit's supervision settings, named as in systemd (seconds, not usec)."""

    watchdog_s: float  # WatchdogSec=
    restart_s: float  # RestartSec=
    start_limit_burst: int  # StartLimitBurst=
    start_limit_interval_s: float  # StartLimitIntervalSec=
    start_timeout_s: float  # TimeoutStartSec=: READY=1 must come within this
    abort_timeout_s: float  # TimeoutAbortSec=: SIGABRT, then SIGKILL after this
    stop_timeout_s: float = 20.0  # TimeoutStopSec=: exit within this after STOPPING=1

    def __post_init__(self) -> None:
        for name in ("watchdog_s", "restart_s", "start_limit_interval_s", "start_timeout_s",
                     "abort_timeout_s", "stop_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"service policy {name} must be positive")
        if self.start_limit_burst < 1:
            raise ValueError("service policy start_limit_burst must be at least 1")


FLIGHTSW = ServicePolicy(watchdog_s=10.0, restart_s=1.0, start_limit_burst=5,
                         start_limit_interval_s=120.0, start_timeout_s=90.0,
                         abort_timeout_s=5.0, stop_timeout_s=20.0)
"""The executive's policy, on boards (the unit file) and in the sim stack (the launcher).
WatchdogSec 10 s: the executive kicks every 5 s, and a hang is a reset within 10-15 s
(well inside the Raspberry Pi hardware watchdog's ~15 s, which backs systemd up).
TimeoutStartSec 90 s: the first READY=1 waits for the plant's (or the board's) first
sample, and in lockstep for the scenario's first tick. RestartSec 1 s also gives the
plant's bus time to let go of the dead executive before the new one connects (a bound
ZeroMQ PAIR takes one peer at a time; a peer that comes too early is refused without
being told, and connects afresh after 3 s of silence)."""

CLEAN_SIGNALS = frozenset({signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE})
"""Deaths by these signals are clean exits for ``Restart=on-failure`` (as in systemd)."""


class Unit(str, Enum):
    INACTIVE = "inactive"
    STARTING = "starting"  # spawned, waiting for READY=1
    RUNNING = "running"  # READY=1 came; the watchdog is armed
    STOPPING = "stopping"  # STOPPING=1 came: an orderly stop, no kicks expected
    ABORTING = "aborting"  # hung or never ready: SIGABRT sent (then SIGKILL)
    AUTO_RESTART = "auto-restart"  # died; waiting RestartSec before starting again
    EXITED = "exited"  # ended cleanly: not restarted
    FAILED = "failed"  # start limit hit: given up


class Trigger(str, Enum):
    START = "start"  # the operator (launcher) starts the service
    READY = "READY=1"
    WATCHDOG = "WATCHDOG=1"
    STOPPING = "STOPPING=1"
    EXITED = "exited"  # the main process ended; with its return code
    TIMER = "timer"  # time passed (the launcher's poll); acts only past the deadline


class Action(str, Enum):
    SPAWN = "spawn"
    ABORT = "abort"  # send SIGABRT (systemd's WatchdogSignal=)
    KILL = "kill"  # send SIGKILL
    GIVE_UP = "give up"  # stop the whole stack: the start limit was hit


@dataclass(frozen=True)
class ServiceState:
    unit: Unit = Unit.INACTIVE
    deadline_s: float | None = None  # when TIMER acts next (monotonic); None: never
    starts_s: tuple[float, ...] = ()  # start times within the start-limit window
    restarts: int = 0
    result: str = ""  # why the last incarnation ended (systemd's Result=)


@dataclass(frozen=True)
class Outcome:
    state: ServiceState
    actions: tuple[Action, ...] = ()
    note: str = ""  # for the operator (the CLI prints it, the launcher logs it)


def exit_result(code: int) -> str:
    """A Popen return code as systemd words it: ``success``, ``exit-code``, ``signal``."""
    if code == 0:
        return "success"
    if code > 0:
        return "exit-code"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    return "clean signal" if -code in CLEAN_SIGNALS else f"signal {name}"


def is_failure(code: int) -> bool:
    """``Restart=on-failure``: a non-zero exit or death by an unclean signal."""
    return code > 0 or (code < 0 and -code not in CLEAN_SIGNALS)


Transition = Callable[[ServicePolicy, ServiceState, float, int], Outcome]


def _start(p: ServicePolicy, s: ServiceState, now_s: float, _code: int) -> Outcome:
    window = tuple(t for t in s.starts_s if now_s - t < p.start_limit_interval_s)
    if len(window) >= p.start_limit_burst:
        return Outcome(replace(s, unit=Unit.FAILED, deadline_s=None, starts_s=window),
                       (Action.GIVE_UP,),
                       f"executive started {len(window)} times within "
                       f"{p.start_limit_interval_s:g} s (StartLimitBurst="
                       f"{p.start_limit_burst}): giving up after {s.result or 'failure'}")
    again = s.unit is Unit.AUTO_RESTART
    state = replace(s, unit=Unit.STARTING, deadline_s=now_s + p.start_timeout_s,
                    starts_s=(*window, now_s), restarts=s.restarts + (1 if again else 0))
    note = f"restarting the executive (restart {state.restarts})" if again else ""
    return Outcome(state, (Action.SPAWN,), note)


def _ready(p: ServicePolicy, s: ServiceState, now_s: float, _code: int) -> Outcome:
    return Outcome(replace(s, unit=Unit.RUNNING, deadline_s=now_s + p.watchdog_s))


def _kicked(p: ServicePolicy, s: ServiceState, now_s: float, _code: int) -> Outcome:
    return Outcome(replace(s, deadline_s=now_s + p.watchdog_s))


def _stopping(p: ServicePolicy, s: ServiceState, now_s: float, _code: int) -> Outcome:
    return Outcome(replace(s, unit=Unit.STOPPING, deadline_s=now_s + p.stop_timeout_s))


def _timed_out(why: str) -> Transition:
    def transition(p: ServicePolicy, s: ServiceState, now_s: float, _code: int) -> Outcome:
        return Outcome(replace(s, unit=Unit.ABORTING, deadline_s=now_s + p.abort_timeout_s,
                               result=why), (Action.ABORT,),
                       f"executive {why}: sending SIGABRT")
    return transition


def _kill(p: ServicePolicy, s: ServiceState, now_s: float, _code: int) -> Outcome:
    return Outcome(replace(s, deadline_s=None), (Action.KILL,),
                   f"executive did not end {p.abort_timeout_s:g} s after SIGABRT: SIGKILL")


def _exited(p: ServicePolicy, s: ServiceState, now_s: float, code: int) -> Outcome:
    result = exit_result(code)
    if not is_failure(code):
        return Outcome(replace(s, unit=Unit.EXITED, deadline_s=None, result=result),
                       (), f"executive exited cleanly ({result}): not restarted")
    return Outcome(replace(s, unit=Unit.AUTO_RESTART, deadline_s=now_s + p.restart_s,
                           result=result),
                   (), f"executive died ({result}, code {code}); restart in "
                       f"{p.restart_s:g} s")


def _aborted(p: ServicePolicy, s: ServiceState, now_s: float, code: int) -> Outcome:
    return Outcome(replace(s, unit=Unit.AUTO_RESTART, deadline_s=now_s + p.restart_s),
                   (), f"executive ended after {s.result} ({exit_result(code)}); restart "
                       f"in {p.restart_s:g} s")


TABLE: dict[tuple[Unit, Trigger], Transition] = {
    (Unit.INACTIVE, Trigger.START): _start,
    (Unit.EXITED, Trigger.START): _start,
    (Unit.AUTO_RESTART, Trigger.TIMER): _start,
    (Unit.STARTING, Trigger.READY): _ready,
    (Unit.RUNNING, Trigger.WATCHDOG): _kicked,
    (Unit.RUNNING, Trigger.STOPPING): _stopping,
    (Unit.STARTING, Trigger.STOPPING): _stopping,
    (Unit.STARTING, Trigger.TIMER): _timed_out("sent no READY=1 within TimeoutStartSec"),
    (Unit.RUNNING, Trigger.TIMER): _timed_out("watchdog timeout (no WATCHDOG=1 within "
                                              "WatchdogSec)"),
    (Unit.STOPPING, Trigger.TIMER): _timed_out("did not exit within TimeoutStopSec of "
                                               "STOPPING=1"),
    (Unit.STOPPING, Trigger.EXITED): _exited,
    (Unit.ABORTING, Trigger.TIMER): _kill,
    (Unit.STARTING, Trigger.EXITED): _exited,
    (Unit.RUNNING, Trigger.EXITED): _exited,
    (Unit.ABORTING, Trigger.EXITED): _aborted,
}


def step(policy: ServicePolicy, state: ServiceState, trigger: Trigger, now_s: float,
         code: int = 0) -> Outcome:
    """Apply one trigger at ``now_s`` (monotonic seconds); ``code``: the return code for
    :attr:`Trigger.EXITED` (negative: killed by that signal, as Popen reports it)."""
    if trigger is Trigger.TIMER and (state.deadline_s is None or now_s < state.deadline_s):
        return Outcome(state)
    transition = TABLE.get((state.unit, trigger))
    if transition is None:
        return Outcome(state)
    return transition(policy, state, now_s, code)


def unit_settings(policy: ServicePolicy) -> dict[str, str]:
    """The policy as systemd unit settings (``[Unit]`` and ``[Service]`` keys), for the
    test that keeps the shipped unit file in step with the launcher."""
    def sec(x: float) -> str:
        return f"{x:g}s"

    return {"WatchdogSec": sec(policy.watchdog_s), "RestartSec": sec(policy.restart_s),
            "StartLimitBurst": str(policy.start_limit_burst),
            "StartLimitIntervalSec": sec(policy.start_limit_interval_s),
            "TimeoutStartSec": sec(policy.start_timeout_s),
            "TimeoutAbortSec": sec(policy.abort_timeout_s),
            "TimeoutStopSec": sec(policy.stop_timeout_s),
            "Restart": "on-failure", "Type": "notify", "NotifyAccess": "main"}
