"""The whole executive in process: fake plant, fake payload, in-memory transports.

Each test is a short scripted flight; each asserts on what reached the ground. Several
are regressions of defects measured on the old executive (named in their docstrings).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import msgpack
import pytest

from flightsw.config import FlightConfig
from flightsw.events import THROTTLE_QUIET_S
from flightsw.harness import EPOCH_S, Harness
from flightsw.wire import Kind, Sequencer


def test_boots_runs_the_payload_and_downlinks_products() -> None:
    h = Harness()
    h.run(12)
    assert [e.name for e in h.events()][:2] == ["exec.boot", "mode.changed"]
    assert h.latest("payload.state") == "ready"
    assert h.latest("mode.current") == "COMPUTE"
    products = h.products()
    assert products and products[-1]["tiles"] == 16
    assert h.actuators[-1].payload_on and h.actuators[-1].report_mode == "COMPUTE"
    assert h.latest("exec.cycle_faults") == 0


def test_housekeeping_rate_follows_its_period_on_sim_time() -> None:
    """Measured on the old executive: 0.65 Hz instead of 1 Hz, and a 0.1 s period
    stayed at 1 Hz (housekeeping lived in the 1 Hz group)."""
    h = Harness()
    h.run(10)
    assert len(h.telemetry()) == 10
    seq = h.command("exec.hk_period_set", period_s=0.1)
    h.run(1)
    before = len(h.telemetry())
    h.run(10)
    assert h.verification(seq)[-1].stage == "completed"
    assert len(h.telemetry()) - before == 100
    times = [e.time_s for e in h.downlink if e.kind is Kind.TELEMETRY][-10:]
    assert all(abs(b - a - 0.1) < 1e-6 for a, b in itertools.pairwise(times))


def test_infinite_next_contact_is_rejected_at_the_hal_not_a_crash() -> None:
    """Measured: one sample with next_contact_in_s = inf killed the executive
    (round(inf) in housekeeping)."""
    h = Harness()
    h.run(3, next_contact_in_s=math.inf, payload_temp_c=math.nan, battery_temp_c=1e9)
    rejected = h.events("exec.sensor_rejected")
    assert rejected and "next_contact_in_s" in rejected[0].text
    assert "battery_temp_c=1e+09" in rejected[0].text
    assert h.latest("link.next_aos_in_s") is None
    assert h.latest("exec.sensor_rejects") >= 2
    assert h.latest("exec.cycle_faults") == 0
    assert h.latest("throttle.zone") == "sensor"  # a lost temperature runs the payload at 0


def test_a_fault_inside_a_cycle_is_an_event_and_a_counter(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from flightsw import throttle

    h = Harness()
    h.run(2)

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("injected")

    monkeypatch.setattr(throttle, "step", broken)
    h.run(3)
    monkeypatch.undo()
    h.run(2)
    faults = h.events("exec.cycle_fault")
    assert faults and "ZeroDivisionError: injected" in faults[0].text
    assert "slow" in faults[0].text
    assert h.latest("exec.cycle_faults") == 3
    assert len(h.actuators) == 7  # every tick was still answered


def test_deeply_nested_command_gets_a_failed_verification() -> None:
    """Measured: a ~1 KB frame nesting a value 1,010 deep killed the executive."""
    h = Harness()
    h.run(1)
    deep: list[object] = []
    for _ in range(1010):
        deep = [deep]
    h.uplink_raw(msgpack.packb([1, "cmd", "ground", 77, EPOCH_S, {"name": deep}]))
    seq = h.command("exec.noop")
    h.run(1)
    rejected = h.events("exec.frame_rejected")
    assert rejected and "nested too deep" in rejected[0].text
    assert h.verification(seq)[-1].stage == "completed"


@pytest.mark.parametrize("name, args, words", [
    ("warp.drive", {}, "unknown command"),
    ("mode.set", {"mode": "WARP"}, "not one of the choices"),
    ("mode.set", {}, "missing argument"),
    ("payload.throttle_cap", {"level_pct": float("nan")}, "must be finite"),
    (["mode.set"], {}, "name must be a string"),
])
def test_bad_commands_fail_with_the_reason(name: object, args: dict[str, object],
                                           words: str) -> None:
    h = Harness()
    h.run(1)
    seq = h.command(name, **args)
    h.run(1)
    received, ver = h.verification(seq)
    assert received.stage == "received"
    assert ver.stage == "failed" and words in ver.reason
    assert h.events("exec.cmd_rejected")


def test_a_command_body_that_is_not_a_map_is_refused() -> None:
    h = Harness()
    h.run(1)
    h.uplink_raw(Sequencer("ground").pack(Kind.COMMAND, EPOCH_S, {"name": 5}))
    h.run(1)
    received, ver = h.verification(0)
    assert received.stage == "received"
    assert ver.stage == "failed" and "not a command" in ver.reason


def test_operator_nominal_holds_against_autonomous_compute() -> None:
    """Measured: mode.set NOMINAL was undone by the autonomous NOMINAL->COMPUTE rule
    57 ms later."""
    h = Harness()
    h.run(3)
    assert h.latest("mode.current") == "COMPUTE"
    seq = h.command("mode.set", mode="NOMINAL")
    h.run(30)
    assert h.verification(seq)[-1].stage == "completed"
    assert h.latest("mode.current") == "NOMINAL" and h.latest("mode.commanded") is True
    # ... until a guard forces a safer mode: then autonomy is back in charge
    h.run(3, battery_soc_frac=0.1)
    assert h.latest("mode.current") == "SAFE"
    h.run(3, battery_soc_frac=0.9)
    assert h.latest("mode.current") in ("NOMINAL", "COMPUTE")
    assert h.latest("mode.commanded") is False


def test_refused_mode_change_says_why() -> None:
    h = Harness()
    h.run(2, battery_soc_frac=0.5)
    seq = h.command("mode.set", mode="COMPUTE")
    h.run(1)
    ver = h.verification(seq)[-1]
    assert ver.stage == "failed" and "below 60 %" in ver.reason
    assert h.events("mode.refused")


def test_battery_low_throttle_drains_after_a_quiet_period() -> None:
    """Measured: power.battery_low went silent for the rest of the mission five seconds
    into the first low-battery episode."""
    cfg = FlightConfig(capture_period_s=5.0)
    h = Harness(cfg)
    h.run(20, battery_soc_frac=0.27)  # below safe + 5 %: one warning a second
    first = h.events("power.battery_low")
    assert len(first) == 5
    assert h.latest("exec.events_throttled") == 1
    h.run(int(THROTTLE_QUIET_S) + 5, battery_soc_frac=0.9)
    h.run(3, battery_soc_frac=0.27)
    again = h.events("power.battery_low")
    assert len(again) > len(first)
    assert "15 more suppressed" in again[len(first)].text
    assert h.latest("exec.events_suppressed") == 15


def test_jobs_in_flight_when_the_payload_dies_are_requeued_once_then_failed() -> None:
    """Measured: jobs in flight vanished on a payload restart (no event, no counter)."""
    h = Harness()
    h.run(6)
    h.payload.hang()  # answers nothing: its jobs stay in flight
    h.run(5)  # a capture at t=10 sends job 2 to a hung child
    in_flight = h.core.state.payload.in_flight
    assert in_flight
    lost = sorted(in_flight)
    h.payload.next_options = {"swallow_jobs": True}  # the next child gets stuck on them
    h.payload.crash(-9)
    h.run(5)
    requeued = h.events("payload.job_requeued")
    assert [int(e.args["job_id"]) for e in requeued] == lost
    assert h.latest("payload.jobs_requeued") == len(lost)
    # the new incarnation got them again, with the same ids
    second = h.payload.incarnations[-1]
    assert [j.job_id for j in second.jobs_seen][: len(lost)] == lost
    # lost a second time: failed, with a report that reaches the ground
    h.payload.crash(-9)
    h.run(12)
    failed = h.events("payload.job_failed")
    assert any("lost to 2 payload restarts" in e.text for e in failed)
    # one job counter: an id reaches a child again only when it was requeued
    ids = [j.job_id for p in h.payload.incarnations for j in p.jobs_seen]
    requeued_ids = {int(e.args["job_id"]) for e in h.events("payload.job_requeued")}
    assert {i for i in ids if ids.count(i) > 1} <= requeued_ids
    assert max(ids.count(i) for i in ids) <= 2


def test_hung_payload_costs_one_grace_then_counts_on_sim_time() -> None:
    h = Harness()
    h.run(4)
    h.payload.hang()
    h.run(20)
    assert h.events("payload.unresponsive")
    died = h.events("payload.died")
    assert died and "heartbeat lost" in died[0].text
    assert h.latest("payload.state") == "ready" and h.latest("payload.restarts") == 1


def test_commanded_restart_is_not_a_death() -> None:
    h = Harness()
    h.run(3)
    seq = h.command("payload.restart")
    h.run(4)
    assert h.verification(seq)[-1].stage == "completed"
    assert h.events("payload.restarting") and not h.events("payload.died")
    assert h.latest("payload.incarnation") == 2


def test_restart_of_a_disabled_payload_is_refused() -> None:
    h = Harness()
    h.run(2)
    h.command("payload.enable", enabled=False)
    h.run(2)
    assert h.events("payload.stopped")
    assert h.latest("payload.state") == "disabled"
    seq = h.command("payload.restart")
    h.run(1)
    assert "disabled" in h.verification(seq)[-1].reason
    h.command("payload.enable", enabled=True)
    h.run(3)
    assert h.latest("payload.state") == "ready"


def test_failed_jobs_and_spawn_failures_are_reported() -> None:
    h = Harness()
    h.run(3)
    assert h.payload.current is not None
    h.payload.current.fail_jobs = True
    h.run(10)
    assert any("injected" in e.text for e in h.events("payload.job_failed"))
    assert any(p["failed"] >= 1 for p in h.products())
    h.payload.spawn_error = "no such file"
    h.payload.crash(3)
    h.run(8)
    assert any("spawn failed: no such file" in e.text for e in h.events("payload.died"))


def test_operator_cap_limits_the_capture() -> None:
    h = Harness()
    h.run(3)
    h.command("payload.throttle_cap", level_pct=50)
    h.run(12)
    assert h.latest("payload.operator_cap_pct") == 50.0
    assert h.products()[-1]["tiles"] == 8


def test_records_wait_out_of_contact_and_go_down_at_aos() -> None:
    h = Harness()
    h.run(5, in_contact=False, contact_station="")
    assert h.downlink == []
    assert h.core.state.link.recorder.stored_total > 5
    h.run(2, in_contact=True, contact_station="Svalbard")
    aos = h.events("link.aos")
    assert aos and "Svalbard" in aos[0].text
    seqs = [e.seq for e in h.downlink]
    assert seqs == sorted(set(seqs)) or len(set(seqs)) == len(seqs)
    assert any(e.kind is Kind.HELLO for e in h.downlink)


def test_uplink_garbage_and_wrong_kinds_are_counted() -> None:
    h = Harness()
    h.run(1)
    h.uplink_raw(b"\xc1garbage")
    h.uplink_raw(Sequencer("ground").pack(Kind.TELEMETRY, EPOCH_S, {"points": {}}))
    h.uplink_raw(Sequencer("ground").pack(Kind.HELLO, EPOCH_S, {"dictionary_hash": "bad"}))
    h.run(2)
    assert h.latest("link.frames_rejected") == 2
    assert h.latest("exec.frames_rejected") == 2
    assert h.events("link.dictionary_mismatch")


def test_plant_garbage_is_rejected_and_the_next_tick_still_answered() -> None:
    h = Harness()
    h.run(2)
    h.send_plant(b"\x00\x01")
    h.tick_raw({"dt_s": 1.0})  # no elapsed_s
    h.tick_raw({"elapsed_s": 3.0, "sensors": {"battery_soc_frac": "full"}})
    h.tick_raw({"reason": "x"}, kind=Kind.SENSORS)
    n = len(h.actuators)
    h.run(2)
    assert len(h.actuators) == n + 2
    reasons = [e.text for e in h.events("exec.frame_rejected")]
    assert len(reasons) == 4 and any("elapsed_s is missing" in r for r in reasons)


def test_a_stop_with_a_garbled_reason_still_stops_cleanly() -> None:
    """Found reviewing the plant-bus path: STOP's reason was decoded unguarded, so
    {"reason": 5} raised out of the lockstep loop."""
    h = Harness()
    h.run(2)
    h.tick_raw({"reason": 5}, kind=Kind.STOP)
    assert h.executive.stopping == "plant stopped"


def test_plant_stop_ends_the_run_and_shutdown_drains() -> None:
    h = Harness()
    h.run(8)
    h.tick_raw({"reason": "scenario complete"}, kind=Kind.STOP)
    assert h.executive.stopping == "scenario complete"
    h.shutdown()
    assert h.events("exec.shutdown")
    assert h.payload.current is None
    assert h.core.stats()["jobs_done"] >= 1


def test_state_record_snapshot_holds_what_must_survive_a_reset() -> None:
    h = Harness()
    h.run(12)
    snap = h.core.snapshot()
    assert snap["mode"]["mode"] == "COMPUTE"
    assert snap["payload"]["next_job_id"] > 1
    assert snap["link"]["next_seq"] > 0
    assert "recorder" not in snap["link"]  # bulky history is the recorder's own concern
    # every persisted value is plain data (bools, numbers, strings, records)
    import dataclasses

    blob = msgpack.packb({k: {f: (dataclasses.asdict(v) if dataclasses.is_dataclass(v)
                                  and not isinstance(v, type) else v)
                              for f, v in fields.items()} for k, fields in snap.items()},
                         default=lambda o: dataclasses.asdict(o))
    assert len(blob) < 10_000


def test_event_times_are_mission_time() -> None:
    """Seen in a lockstep archive: exec.boot was stamped 0.0 (1970), announced before
    the first tick had set the scenario's epoch."""
    h = Harness()
    h.run(5)
    for name in ("exec.boot", "mode.changed"):
        times = h.event_times(name)
        assert times and EPOCH_S <= times[0] <= EPOCH_S + 5, name


def test_free_running_keeps_the_payload_fed_and_answers_with_actuators() -> None:
    from flightsw.harness import FreeRunHarness

    h = FreeRunHarness()
    h.run(5)
    assert h.latest("payload.state") == "ready"
    assert h.core.stats()["jobs_done"] > 10  # results refill the queue as they arrive
    assert len(h.core.state.payload.in_flight) <= 4
    assert len(h.actuators) >= 4
    assert h.latest("payload.activity_pct") == 100.0  # the child's own busy fraction
    h.plant.send(b"junk")
    h.plant.send(Sequencer("plant").pack(Kind.ACTUATORS, EPOCH_S, {}))
    h.plant.send(Sequencer("plant").pack(Kind.SENSORS, EPOCH_S, {"sensors": 3}))
    h.run(1)
    assert len(h.events("exec.frame_rejected")) == 3
    h.plant.send(Sequencer("plant").pack(Kind.STOP, EPOCH_S, {"reason": "done"}))
    h.run(1)
    assert h.executive.stopping == "done"


def test_event_log_edges() -> None:
    from flightsw.catalog import build_dictionary
    from flightsw.events import EventLog

    sent: list[Any] = []
    log = EventLog(build_dictionary(), sent.append)
    log.emit("no.such_event", {"x": 1}, 0.0)
    assert sent[0].severity == "WARNING_HI" and "undeclared" in sent[0].text
    for i in range(25):
        log.emit("exec.frame_rejected", {"stream": "s", "reason": [[[[[[[i]]]]]]]}, 1.0)
    assert log.suppressed == 5
    log.reset_throttle("exec.frame_rejected")
    assert log.emit("exec.frame_rejected", {"stream": "s", "reason": "r"}, 2.0) is not None
    assert "5 more suppressed" in sent[-1].text


def test_run_writes_stats_and_stops_when_its_parent_is_gone(tmp_path: object) -> None:
    import os
    import signal
    from pathlib import Path

    from flightsw.executive import install_signal_handlers

    h = Harness()
    h.executive.stats_out = Path(str(tmp_path)) / "stats.json"
    h.run(3)
    h.executive.parent_pid = os.getppid() + 1  # as if reparented after a parent's death
    assert h.executive.stopping == "parent died"
    assert h.executive.run() == 0  # announces, sees the stop, shuts down in order
    assert h.executive.stats_out.exists()
    assert h.executive.stats()["fast_cycles"] >= 20
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        install_signal_handlers(h.executive)
        handler = signal.getsignal(signal.SIGHUP)
        assert callable(handler)
        handler(signal.SIGHUP, None)
        assert h.executive.stopping == "parent died"  # the first reason is kept
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def test_over_zmq_builds_the_sim_stack_executive(tmp_path: object) -> None:
    from flightsw.executive import Executive, ExecutiveOptions
    from flightsw.transport import ZmqTransport
    from hil.stack import free_port

    ex = Executive.over_zmq(FlightConfig(), ExecutiveOptions(
        plant_endpoint=f"tcp://127.0.0.1:{free_port()}",
        link_endpoint=f"tcp://127.0.0.1:{free_port()}", lockstep=True))
    try:
        assert isinstance(ex.plant, ZmqTransport) and isinstance(ex.link, ZmqTransport)
        assert ex.payload.transport is None
    finally:
        ex.plant.close()
        ex.link.close()


def test_free_running_boot_is_stamped_with_the_plants_time_not_the_hosts() -> None:
    """Seen in `aisat up`: exec.boot and payload.started carried the host's wall-clock
    date (2026) while everything else was in the scenario's (2025), so the event log put
    the boot last."""
    from flightsw.clock import RealClock
    from flightsw.harness import nominal_sensors

    h = Harness()
    ex = h.executive
    ex.lockstep = ex.core.lockstep = False
    real = RealClock()
    ex.clock = ex.core.clock = real
    scenario_s = 1_750_000_000.0  # 2025-06-15
    h.plant.send(Sequencer("plant").pack(Kind.SENSORS, scenario_s,
                                         {"sensors": nominal_sensors().to_body()}))
    assert ex.await_time_source(timeout_s=1.0)
    ex.announce_boot()
    ex.core.start_at(real.monotonic_s())
    ex.turn_free(wait=False)
    h._collect()
    boot = [e for e in h.downlink if e.kind is Kind.EVENT and e.body["name"] == "exec.boot"]
    assert boot and abs(boot[-1].time_s - scenario_s) < 60
    assert not ex.await_time_source(timeout_s=0.1)  # nothing more comes in memory


def test_ground_hello_right_after_aos_is_not_answered_twice() -> None:
    """Two lockstep runs numbered their downlink differently after AOS: the ground's
    HELLO reached the executive at a wall-clock-dependent cycle and its answer took a
    sequence number. The flight's AOS HELLO answers it; a later one gets a reply."""
    h = Harness()
    h.run(3, in_contact=False, contact_station="")
    h.run(1, in_contact=True)
    hello = Sequencer("ground").pack(Kind.HELLO, EPOCH_S,
                                     {"dictionary_hash": h.core.dictionary.hash})
    h.uplink_raw(hello)
    h.run(2)
    assert sum(1 for e in h.downlink if e.kind is Kind.HELLO) == 1
    h.run(12)
    h.uplink_raw(hello)  # a ground that restarted mid-pass
    h.run(1)
    assert sum(1 for e in h.downlink if e.kind is Kind.HELLO) == 2


def test_a_ground_asking_again_gets_the_same_hello_not_a_new_number() -> None:
    """A loaded CI run archived 642 records against 640: the ground's HELLO retries (on
    its wall clock) each made the flight number a new HELLO while the first was still
    unacknowledged. Now the unacknowledged HELLO is sent again, under its own number."""
    h = Harness(auto_ack=False)  # a ground that has not heard the flight's HELLO
    h.run(3, in_contact=False, contact_station="")
    h.run(1, in_contact=True)
    hello = Sequencer("ground").pack(Kind.HELLO, EPOCH_S,
                                     {"dictionary_hash": h.core.dictionary.hash})
    for _ in range(4):  # retries while the flight's HELLO is unacknowledged
        h.run(15)
        h.uplink_raw(hello)
    h.run(15)
    hellos = {e.seq for e in h.downlink if e.kind is Kind.HELLO}
    assert len(hellos) == 1
    h.ack(sorted({e.seq for e in h.downlink}))  # the ground has it all now
    h.run(15)
    h.uplink_raw(hello)  # a ground that restarted mid-pass and lost it: a new HELLO
    h.run(2)
    assert len({e.seq for e in h.downlink if e.kind is Kind.HELLO}) == 2
