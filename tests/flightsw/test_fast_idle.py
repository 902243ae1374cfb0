"""A lockstep fast cycle with nothing to do is counted, not run - and that changes nothing.

The executive skips the fast cycles of a tick that would find no new input and nothing
come due (see :meth:`flightsw.topology.Topology.fast_has_nothing_to_do`). These tests fly
the same busy scenario twice, once with every cycle run, and require the same downlink
(every record, its number, time and content), the same actuators and the same cycle
counts; and they check the limit checker's partial housekeeping against the whole one.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

from flightsw import cycle_health, jobs, payload_supervision
from flightsw.config import FlightConfig
from flightsw.harness import Harness
from flightsw.recorder import Priority, Recorder
from flightsw.wire import Kind

MEASURED = {*cycle_health.WALL_CLOCK_POINTS, *jobs.MEASURED_POINTS,
            *payload_supervision.MEASURED_POINTS, "payload.rss_mb"}


def _fly(skip_idle: bool) -> tuple[Harness, list[Any], int]:
    """A scenario that gives fast cycles work at odd times: a lagging ground that acks
    in bursts (copies wait, expire and go again), contact lost and regained (the backlog
    then drains through a slow radio, a few frames a cycle), stored commands due
    mid-tick, housekeeping at 0.3 s, an operator job and its cancel."""
    h = Harness(FlightConfig(capture_period_s=5.0, restart_backoff_s=2.0,
                             heartbeat_timeout_s=2.0, downlink_rate_bps=200_000.0),
                auto_ack=False)
    arrivals: list[int] = []
    h.link_sink = lambda frames: arrivals.append(len(frames))
    if not skip_idle:
        h.core.shell_quiet = None
    full = {"n": 0}
    real_fast = h.core._fast

    def counted() -> None:
        full["n"] += 1
        real_fast()

    h.core._fast = counted
    h.run(5)
    h.command("exec.hk_period_set", period_s=0.3)
    h.command_at(h.mission_time_s + 3.35, "exec.noop")
    h.command_at(h.mission_time_s + 7.75, "exec.hk_period_set", period_s=2.0)
    for second in range(60):
        if second == 20:
            h.command("jobs.capture", n_tiles=4, priority=1, deadline_s=600.0)
        if second == 21:
            h.command("jobs.cancel", job_id=1)
        contact = not 30 <= second < 40
        h.run(1, in_contact=contact, next_contact_in_s=0.0 if contact else 10.0 - second % 10)
        if second % 7 == 6:  # the ground acknowledges a burst, late
            h.ack(sorted({e.seq for e in h.downlink})[:-3])
    h.shutdown()
    return h, [h.actuators, arrivals, [e.seq for e in h.downlink]], full["n"]


def _records(h: Harness) -> list[tuple[Any, ...]]:
    out = []
    for env in h.downlink:
        body = dict(env.body)
        if env.kind is Kind.TELEMETRY:
            body = {k: v for k, v in body["points"].items() if k not in MEASURED}
        out.append((env.kind, env.seq, env.time_s, repr(body)))
    return sorted(set(out), key=lambda r: (r[1], r[2]))


def test_skipping_idle_fast_cycles_changes_nothing_the_ground_or_plant_sees() -> None:
    skipped, act_skipped, run_skipped = _fly(skip_idle=True)
    every, act_every, run_every = _fly(skip_idle=False)
    assert _records(skipped) == _records(every)
    assert act_skipped == act_every
    assert (skipped.core.groups.groups[0].runs == every.core.groups.groups[0].runs
            == run_every)
    # and it really skipped most of them (else this test would prove nothing)
    assert run_skipped < run_every / 2, (run_skipped, run_every)
    kinds = {e.kind for e in skipped.downlink}
    assert {Kind.TELEMETRY, Kind.EVENT, Kind.VERIFICATION} <= kinds
    assert skipped.core.state.link.recorder.resent_total > 0  # copies did go again


def test_free_running_runs_every_fast_cycle() -> None:
    h = Harness()
    h.executive.lockstep = h.core.lockstep = False
    assert not h.core.fast_has_nothing_to_do()


def test_nothing_to_send_agrees_with_select() -> None:
    """The recorder's cheap answer is never 'nothing' when select would find a frame:
    random stores, sends (some refused), acknowledgements with holes and lost ones, and
    time steps from a tenth of a second to a minute (copies expire and go again)."""
    said_nothing = found = resent = 0
    for seed in range(20):
        rng = random.Random(seed)
        rec = Recorder(1 << 20)
        seq, now = 0, 0.0
        for step in range(300):
            now += rng.choice((0.1, 0.1, 1.0, 7.0, 40.0))
            if rng.random() < 0.3:
                seq += 1
                rec.store(seq, rng.choice(list(Priority)), b"x" * 40)
            if rng.random() < 0.15 and seq > 2:
                a = rng.randrange(1, seq)
                rec.ack([(a, rng.randrange(a + 1, seq + 1))], now)
            claim = rec.nothing_to_send(now)
            frames = rec.select(rng.choice((1, 3)), now)
            assert not (claim and frames), f"seed {seed} step {step}: select found {frames}"
            said_nothing += claim
            found += bool(frames)
            rec.sent(len(frames) if rng.random() < 0.8 else 0, now)
        resent += rec.resent_total
    assert resent > 50 and said_nothing > 500 and found > 500, (resent, said_nothing, found)


def test_the_limit_checker_reads_the_same_values_as_the_whole_housekeeping() -> None:
    h = Harness()
    h.run(3)
    core = h.core
    # a watchpoint on every point a component declares: each one's owner must be built
    first = core.state.limits.watchpoints[0]
    core.state.limits.watchpoints = [replace(first, wp_id=i + 1, point=name, enabled=True)
                                     for i, name in enumerate(sorted(core._point_owner))]
    whole = core.housekeeping()
    part = core._watched_points()
    for wp in core.state.limits.watchpoints:
        a, b = whole.get(wp.point), part.get(wp.point)
        assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)), wp.point
    # a point no component declares (the executive's own) takes the whole sample
    core.state.limits.watchpoints = [replace(first, point="exec.not_declared_by_any")]
    assert core._watched_points().keys() == whole.keys()
    # one point takes its component's sample only
    core.state.limits.watchpoints = [replace(first, point="power.battery_temp_c")]
    assert len(core._watched_points()) < len(whole) / 2


def test_a_ticks_frames_refused_by_the_link_are_taken_back_not_lost() -> None:
    """Lockstep sends a tick's frames after the plant has its answer; frames the link
    refuses then (no ground yet, a full queue) are taken back as never sent: they are
    not counted, not left waiting for an acknowledgement, and go when the link takes
    them, every number once."""
    h = Harness()
    h.run(3)
    before = h.core.state.link.frames_sent
    h.ground.capacity = 0  # the ground's queue is full: every send is refused
    h.run(5)
    st = h.core.state.link
    assert st.frames_sent == before
    assert st.recorder.in_flight == 0 and len(st.recorder) > 0
    h.ground.capacity = 100_000
    h.run(3)
    seqs = sorted({e.seq for e in h.downlink})
    assert seqs == list(range(seqs[0], seqs[-1] + 1))  # nothing skipped
    assert st.frames_sent == len(h.downlink) and st.recorder.resent_total == 0


def test_unsend_puts_the_recorder_back_as_it_was() -> None:
    rec = Recorder(1 << 20)
    for seq in range(1, 8):
        rec.store(seq, Priority.HOUSEKEEPING if seq % 2 else Priority.EVENT, b"y" * 30)
    first = rec.select(4, 1.0)
    chosen = [h.seq for h in rec.selected()]
    rec.sent(4, 1.0)
    assert rec.resend_now(chosen[0], 10.0)  # it goes again
    again = rec.select(10, 40.0)
    copies = [(h, h.sent_s, h.sends) for h in rec.selected()]
    resent, in_flight = rec.resent_total, rec.in_flight
    rec.sent(len(again), 40.0)
    assert rec.resent_total > resent  # a copy went again (the test would prove less)
    rec.unsend(copies)
    assert (rec.resent_total, rec.in_flight) == (resent, in_flight)
    assert rec.select(10, 40.0) == again  # the same frames, in the same order
    assert first


def test_a_kill_before_the_outbox_leaves_skips_no_downlink_number(tmp_path: Path) -> None:
    """The state record is saved within a tick (a command made it dirty) while the
    tick's frames still wait in the outbox; killed then, the next boot must number on
    without a gap: the records behind the saved number are in the recorder's store."""
    path = tmp_path / "flight_state.bin"
    first = Harness(state_path=path)
    first.run(5)
    first.executive._flush_outbox = lambda: None  # type: ignore[method-assign]
    first.command("exec.noop")
    first.run(2)  # killed before anything of these ticks left
    second = Harness(state_path=path)
    second.run(5)
    seqs = sorted({e.seq for e in first.downlink} | {e.seq for e in second.downlink})
    gaps = sorted(set(range(seqs[0], seqs[-1] + 1)) - set(seqs))
    assert not gaps, f"numbers the ground would wait for for ever: {gaps}"
