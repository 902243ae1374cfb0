"""Rate-group overruns and slips, and the watchdog gate over them: a pure table for the
gate, then the whole executive in the in-process harness with a slow component injected
and a recording watchdog (kicks are decided on a fake wall clock)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest

from flightsw import cycle_health
from flightsw.cycle_health import GroupCount, judge
from flightsw.harness import FreeRunHarness, Harness
from flightsw.rategroups import RateGroups
from flightsw.topology import Topology


def _g(name: str, runs: int, slips: int = 0, overruns: int = 0,
       period_s: float = 0.1) -> GroupCount:
    return GroupCount(name, period_s, runs, slips, overruns)


@pytest.mark.parametrize("before, now, real_time, kick, why", [
    ([_g("fast", 0)], [_g("fast", 50)], True, True, ""),
    ([_g("fast", 0)], [_g("fast", 50, slips=2)], True, True, ""),  # within tolerance
    ([_g("fast", 0)], [_g("fast", 50, slips=2, overruns=1)], True, False,
     "fast 2 slipped and 1 overran"),
    ([_g("fast", 10, overruns=4)], [_g("fast", 60, overruns=9)], True, False,
     "fast 5 overran"),
    ([_g("fast", 10, overruns=4)], [_g("fast", 60, overruns=4)], True, True, ""),  # old news
    ([_g("fast", 10)], [_g("fast", 10)], True, False, "fast did not run in 5 s"),
    ([_g("fast", 10)], [_g("fast", 10)], False, True, ""),  # lockstep: sim time may stand
    ([_g("fast", 0)], [_g("fast", 50, overruns=9)], False, True, ""),  # only slower
    ([_g("fast", 0)], [_g("fast", 50, slips=3)], False, False, "fast 3 slipped"),
    ([_g("cap", 3, period_s=60.0)], [_g("cap", 3, period_s=60.0)], True, True, ""),
])
def test_the_gate(before: list[GroupCount], now: list[GroupCount], real_time: bool,
                  kick: bool, why: str) -> None:
    verdict = judge(before, now, real_time=real_time, window_s=5.0)
    assert verdict.kick is kick and verdict.reason == why


def test_decide_waits_for_the_interval_and_counts() -> None:
    groups = RateGroups()
    g = groups.add("fast", 0.1, lambda t: None)
    st = cycle_health.CycleHealthState(groups=groups.groups)
    st, verdict, events = cycle_health.decide(st, 100.0, 2.0, real_time=True)
    assert verdict is not None and verdict.kick and st.kicks == 1 and not events
    st, verdict, _ = cycle_health.decide(st, 101.9, 2.0, real_time=True)
    assert verdict is None  # not yet
    g.overruns += 3
    g.runs += 20
    st, verdict, events = cycle_health.decide(st, 102.0, 2.0, real_time=True)
    assert verdict is not None and not verdict.kick and st.kicks_withheld == 1
    assert events == [("exec.watchdog_withheld", {"reason": "fast 3 overran"})]
    g.runs += 20
    st, verdict, _ = cycle_health.decide(st, 104.0, 2.0, real_time=True)
    assert verdict is not None and verdict.kick and st.kicks == 2  # on time again


def test_rate_groups_count_overruns() -> None:
    seen: list[tuple[str, float]] = []
    groups = RateGroups(on_overrun=lambda g, took: seen.append((g.name, took)))
    groups.add("slow", 1.0, lambda t: None)
    groups.note_duration("slow", 0.5)
    groups.note_duration("slow", 1.25)
    groups.note_duration("nope", 9.0)  # not a group: ignored
    assert seen == [("slow", 1.25)] and groups.overruns == 1
    assert groups.groups[0].max_cycle_s == 1.25


def test_topology_group_names_are_the_declared_ones() -> None:
    h = Harness()
    assert tuple(g.name for g in h.core.groups.groups) == cycle_health.GROUPS
    assert isinstance(h.core, Topology)


class FakeWall:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def monotonic_s(self) -> float:
        return self.now_s


class RecordingWatchdog:
    name = "recording"

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.log: list[str] = []
        self.problems: list[str] = []

    def ready(self) -> None:
        self.log.append("ready")

    def kick(self) -> None:
        self.log.append("kick")

    def stopping(self) -> None:
        self.log.append("stopping")

    def close(self, orderly: bool) -> None:
        self.log.append(f"close orderly={orderly}")

    def take_problems(self) -> list[str]:
        out, self.problems = self.problems, []
        return out


def _harness(cls: type[Harness] = Harness) -> tuple[Harness, FakeWall, RecordingWatchdog]:
    h = cls()
    wall = FakeWall()
    dog = RecordingWatchdog(interval_s=1.0)
    h.executive._wall = wall  # type: ignore[assignment]
    h.core.timer = wall.monotonic_s
    h.executive.watchdog = dog
    h.core.state.cycles.watchdog = dog.name
    return h, wall, dog


def _run(h: Harness, wall: FakeWall, seconds: int, wall_per_tick_s: float = 1.0) -> None:
    for _ in range(seconds):
        wall.now_s += wall_per_tick_s  # the loop is alive and takes this long per tick
        h.run(1)


def test_no_kick_while_a_rate_group_overruns(monkeypatch: pytest.MonkeyPatch) -> None:
    h, wall, dog = _harness(FreeRunHarness)
    h.executive.announce_boot()  # as run() does once the first sample came
    _run(h, wall, 5)
    assert dog.log.count("ready") == 1 and dog.log.count("kick") >= 4
    real_fast = h.core._fast

    def slow_fast() -> None:  # a component that takes 0.3 s of a 0.1 s period
        wall.now_s += 0.3
        real_fast()

    monkeypatch.setattr(h.core, "_fast", slow_fast)
    kicks = dog.log.count("kick")
    _run(h, wall, 5, wall_per_tick_s=0.0)  # the slow cycles are where the time goes
    assert dog.log.count("kick") == kicks, "kicked although the fast group overran"
    assert h.latest("exec.fast_overruns") >= 40
    assert h.latest("exec.fast_max_cycle_ms") == 300.0
    assert h.latest("exec.watchdog_withheld") >= 4
    assert h.events("exec.cycle_overrun")[0].args == {"group": "fast", "took_ms": 300,
                                                       "period_ms": 100}
    assert len(h.events("exec.cycle_overrun")) == 10  # throttled
    withheld = h.events("exec.watchdog_withheld")
    assert withheld and "fast" in withheld[0].args["reason"]
    assert "overran" in withheld[0].args["reason"]

    monkeypatch.setattr(h.core, "_fast", real_fast)
    _run(h, wall, 5)
    assert dog.log.count("kick") >= kicks + 3, "on time again, but no kicks"
    h.shutdown()
    assert dog.log[-2:] == ["stopping", "close orderly=True"]


def test_lockstep_overruns_are_measured_but_only_a_dead_loop_stops_the_kicks(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """On sim time no cycle is late; a slow one only slows the simulation (and a loaded
    host must not get a lockstep executive restarted, nor change what it downlinks)."""
    h, wall, dog = _harness(Harness)
    _run(h, wall, 3)
    real_fast = h.core._fast

    def slow_fast() -> None:
        wall.now_s += 0.3
        real_fast()

    monkeypatch.setattr(h.core, "_fast", slow_fast)
    # every fast cycle runs (a cycle with nothing to do is not skipped): each one is slow
    monkeypatch.setattr(h.core, "shell_quiet", None)
    kicks = dog.log.count("kick")
    _run(h, wall, 5, wall_per_tick_s=0.0)
    assert dog.log.count("kick") >= kicks + 4
    assert h.latest("exec.fast_overruns") >= 40 and h.latest("exec.watchdog_withheld") == 0
    assert not h.events("exec.cycle_overrun") and not h.events("exec.watchdog_withheld")


def test_kicks_follow_wall_time_while_sim_time_stands_still() -> None:
    h, wall, dog = _harness()
    _run(h, wall, 2)
    kicks = dog.log.count("kick")
    for _ in range(3):  # the plant holds the next tick; the executive's loop goes on
        wall.now_s += 1.0
        h.executive.run_lockstep()
    assert dog.log.count("kick") == kicks + 3


def test_watchdog_problems_become_events_and_telemetry() -> None:
    h, wall, dog = _harness()
    dog.problems = ["sd_notify WATCHDOG=1 to /run/x: Connection refused"]
    _run(h, wall, 2)
    assert [e.args["problem"] for e in h.events("exec.watchdog_problem")] == [
        "sd_notify WATCHDOG=1 to /run/x: Connection refused"]
    assert h.latest("exec.watchdog_problems") == 1
    assert h.latest("exec.watchdog") == "recording"


def test_free_running_slips_withhold_the_kick() -> None:
    h = Harness()
    groups = h.core.groups
    wall = FakeWall()
    dog = RecordingWatchdog(interval_s=1.0)
    h.executive._wall = wall  # type: ignore[assignment]
    h.executive.watchdog = dog
    h.executive.lockstep = False
    h.executive.watchdog_turn()
    assert dog.log == ["kick"]
    groups.groups[0].slips += 3
    wall.now_s += 1.0
    h.executive.watchdog_turn()
    assert dog.log == ["kick"]  # slipped: withheld
    for g in groups.groups:
        g.runs += 1
    wall.now_s += 1.0
    h.executive.watchdog_turn()
    assert dog.log == ["kick", "kick"]


def test_telemetry_is_declared() -> None:
    h = Harness()
    h.run(2)
    points: dict[str, Any] = h.telemetry()[-1]
    for name in cycle_health.GROUPS:
        assert points[f"exec.{name}_overruns"] == 0
        assert f"exec.{name}_slips" in points
    assert points["exec.watchdog"] == "none"
    assert not math.isnan(points["exec.fast_max_cycle_ms"])
    assert set(points) <= set(h.core.dictionary.telemetry)  # every point declared


def test_a_crash_is_no_orderly_stop() -> None:
    h, wall, dog = _harness()
    _run(h, wall, 2)
    h.executive.shutdown(orderly=False)  # the loop ended by an exception
    assert "stopping" not in dog.log and dog.log[-1] == "close orderly=False"


def test_the_executive_speaks_sd_notify_at_half_watchdog_usec(tmp_path: Any) -> None:
    """The real systemd client on a real datagram socket, driven by the free-running
    executive: READY=1 at boot, WATCHDOG=1 once per half WATCHDOG_USEC of wall time
    while the groups are on time, STOPPING=1 when it stops in order."""
    import socket

    from flightsw.watchdog import SystemdWatchdog

    path = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    listener.setblocking(False)
    try:
        h = FreeRunHarness()
        wall = FakeWall()
        h.executive._wall = wall  # type: ignore[assignment]
        h.core.timer = wall.monotonic_s
        h.executive.watchdog = SystemdWatchdog.from_env(
            {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"})  # kick every 1 s
        h.executive.announce_boot()
        heard: list[tuple[float, bytes]] = []

        def listen() -> None:
            while True:
                try:
                    heard.append((wall.now_s, listener.recv(64)))
                except BlockingIOError:
                    return

        for _ in range(40):  # 40 turns of a quarter wall second each: 10 s
            wall.now_s += 0.25
            h.run(1)
            listen()
        h.shutdown()
        listen()
    finally:
        listener.close()
    messages = [m for _, m in heard]
    assert messages[0] == b"READY=1" and messages[-1] == b"STOPPING=1"
    kicks = [t for t, m in heard if m == b"WATCHDOG=1"]
    assert len(kicks) == 11  # at boot, then once per wall second for 10 s
    assert kicks[0] == 1000.25  # the boot's kick, heard after the first turn
    assert all(b - a == 1.0 for a, b in itertools.pairwise(kicks[1:])), kicks
