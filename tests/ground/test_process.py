"""The ground process end to end against a fake executive and plant (real sockets)."""

from __future__ import annotations

import struct
import time
from pathlib import Path
from typing import Any

import pytest
import zmq

from flightsw.wire import Kind
from ground.api import Ops
from ground.archive_reader import ArchiveReader
from ground.errors import NoStack
from ground.predicates import gt
from ground.process import (
    BUSY_LINK_FRAMES,
    SIM_TURN_MAX_SPAN_S,
    SIM_TURN_S,
    GroundConfig,
    GroundProcess,
    monitor_event,
)

from .conftest import DICTIONARY, FakeExecutive, GroundRun, free_endpoint, write_stack


def wait_until(check, timeout_s: float = 5.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what} not reached within {timeout_s} s")


def ops_ready(ops: Ops) -> bool:
    try:
        return bool(ops.client.request({"op": "ping"}, timeout_s=0.5)["ok"])
    except NoStack:
        return False


def test_hello_telemetry_command_verification_and_garbage(tmp_path: Path,
                                                          fake_exec: FakeExecutive) -> None:
    info = write_stack(tmp_path, fake_exec.link_endpoint, fake_exec.world_endpoint)
    ground = GroundRun(tmp_path)
    try:
        ops = Ops(tmp_path)
        wait_until(lambda: ops_ready(ops), what="ops answering")

        # AOS: the ground says HELLO with its dictionary hash; flight answers.
        fake_exec.publish_world(True)
        hello = fake_exec.wait_for(Kind.HELLO)
        assert hello.body["dictionary_hash"] == DICTIONARY.hash
        assert hello.source == "ground"
        fake_exec.hello()
        fake_exec.send(Kind.TELEMETRY, {"points": {"power.battery_soc_pct": 61.5,
                                                   "link.in_contact": True}})
        fake_exec.send(Kind.EVENT, {"name": "exec.boot", "severity": "ACTIVITY_HI",
                                    "text": "Executive up", "args": {}})
        assert ops.wait_tlm("power.battery_soc_pct", gt(50), timeout_s=5) == 61.5

        # A command arrives with its cmd_seq as the envelope seq; verification stored.
        queued = ops.submit("exec.hk_period_set", {"period_s": 2.0})
        cmd = fake_exec.wait_for(Kind.COMMAND)
        assert cmd.seq == queued.cmd_seq
        assert cmd.body == {"name": "exec.hk_period_set", "args": {"period_s": 2.0}}
        for stage in ("accepted", "completed"):
            fake_exec.send(Kind.VERIFICATION, {"cmd_seq": cmd.seq, "name": cmd.body["name"],
                                               "stage": stage, "reason": ""})
        final = ops.wait_verification(queued.cmd_seq, timeout_s=5)
        assert final.ok and {"queued", "sent", "accepted", "completed"} <= set(
            final.stage_times_s)

        # Garbage from the "executive" is counted; the ground keeps running.
        for junk in (b"", b"\x00garbage", b"\x96\x01\xa3xyz", bytes(range(256))):
            fake_exec.send_raw(junk)
        fake_exec.send(Kind.TELEMETRY, {"points": {"power.battery_soc_pct": 62.0}})
        assert ops.wait_tlm("power.battery_soc_pct", 62.0, timeout_s=5) == 62.0
        status = ops.status()
        assert status["counts"]["decode_errors"] == 4
        stats = ops.stats()
        assert stats["records_archived"] == 6 and stats["decode_errors"] == 4
        assert ops.stats() == stats  # nothing happened: the same counters
        assert status["counts"]["downlink_missing"] == 0
        assert status["dictionary"]["state"] == "match"

        with ArchiveReader(info.archive) as reader:
            stages = [v["stage"] for v in reader.verifications(queued.cmd_seq)]
            assert stages == ["accepted", "completed"]
            assert reader.command(queued.cmd_seq)["stage"] == "completed"  # type: ignore[index]
            assert reader.counts()["link_errors"] == 4
            assert [e.name for e in reader.events()] == ["exec.boot"]

        ops.stop()
        assert ground.wait() == 0
        assert "Traceback" not in ground.log()
    finally:
        ground.stop()


def test_ground_starts_before_executive_and_survives_its_restart(tmp_path: Path) -> None:
    link, world = free_endpoint(), free_endpoint()
    write_stack(tmp_path, link, world)
    ground = GroundRun(tmp_path)
    fake = None
    try:
        ops = Ops(tmp_path)
        wait_until(lambda: ops_ready(ops), what="ops answering")
        queued = ops.submit("exec.noop")  # out of contact: waits in the queue
        assert queued.stage == "queued"

        fake = FakeExecutive(link, world)  # the executive comes up late
        fake.publish_world(True)
        fake.wait_for(Kind.HELLO)
        fake.hello()
        assert fake.wait_for(Kind.COMMAND).seq == queued.cmd_seq

        fake.restart_link()  # executive restarts: ground reconnects and says HELLO again
        fake.wait_for(Kind.HELLO, timeout_s=10)
        fake.hello()
        second = ops.submit("exec.noop")
        assert fake.wait_for(Kind.COMMAND).seq == second.cmd_seq
        assert ops.status()["flight_connects"] >= 2
    finally:
        if fake is not None:
            fake.close()
        ground.stop()
    assert ground.proc.returncode == 0  # SIGTERM is an orderly stop
    assert "Traceback" not in ground.log()


def test_plant_stop_ends_the_ground_cleanly(tmp_path: Path, fake_exec: FakeExecutive) -> None:
    write_stack(tmp_path, fake_exec.link_endpoint, fake_exec.world_endpoint)
    ground = GroundRun(tmp_path)
    try:
        ops = Ops(tmp_path)
        wait_until(lambda: ops_ready(ops), what="ops answering")
        fake_exec.publish_world(True)
        fake_exec.wait_for(Kind.HELLO)
        deadline = time.monotonic() + 5
        while ground.proc.poll() is None and time.monotonic() < deadline:
            fake_exec.world.send(fake_exec.world_seq.pack(Kind.STOP, 1.8e9,
                                                          {"reason": "scenario complete"}))
            time.sleep(0.05)
        assert ground.wait() == 0
        assert "plant STOP" in ground.log()
    finally:
        ground.stop()


def test_no_stack_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NoStack, match="no running stack"):
        Ops(tmp_path)


def test_ground_refuses_to_start_without_a_stack_or_with_a_busy_ops_port(
        tmp_path: Path, fake_exec: FakeExecutive) -> None:
    ground = GroundRun(tmp_path)  # no stack.json
    try:
        assert ground.wait() == 1
        assert "no running stack" in ground.log() and "Traceback" not in ground.log()
    finally:
        ground.stop()
    # the ops endpoint is taken (by the fake executive's link): a clear refusal
    write_stack(tmp_path, fake_exec.link_endpoint, fake_exec.world_endpoint,
                ops=fake_exec.link_endpoint)
    ground = GroundRun(tmp_path)
    try:
        assert ground.wait() == 1
        assert "cannot open sockets" in ground.log() and "Traceback" not in ground.log()
    finally:
        ground.stop()


def test_malformed_ops_requests_are_refused_and_the_ground_carries_on(
        tmp_path: Path, fake_exec: FakeExecutive) -> None:
    import zmq

    from ground.ops_service import unpack

    info = write_stack(tmp_path, fake_exec.link_endpoint, fake_exec.world_endpoint)
    ground = GroundRun(tmp_path)
    ctx = zmq.Context()
    try:
        ops = Ops(tmp_path)
        wait_until(lambda: ops_ready(ops), what="ops answering")
        for request in ([b"\xc1"], [b"\x93\x01\x02\x03"], [b"\x81\xa2op\xa4warp"],
                        [b"\x81\xa2op\xa4ping", b"extra frame"]):
            req = ctx.socket(zmq.REQ)
            req.setsockopt(zmq.LINGER, 0)
            req.connect(info.ops)
            req.send_multipart(request)
            assert req.poll(2000, zmq.POLLIN)
            reply = unpack(req.recv())
            req.close()
            assert reply["ok"] == (request[0] == b"\x81\xa2op\xa4ping"), reply
        refused = ops.client.request({"op": "cmd", "name": "exec.nop", "args": {}})
        assert refused["error"] == "unknown command" and "exec.noop" in refused["valid"]
        assert ops.status()["ops"]["refused"] == 4
    finally:
        ctx.destroy(linger=0)
        ground.stop()
    assert "Traceback" not in ground.log()


def test_on_the_sim_clock_the_ground_keeps_spacecraft_time(
        tmp_path: Path, fake_exec: FakeExecutive) -> None:
    """``--clock sim``: HELLO, command stage times and receive stamps are WORLD time
    (the fake plant's 1.8e9), never the wall; the wall only fills ``rx_wall_s``."""
    info = write_stack(tmp_path, fake_exec.link_endpoint, fake_exec.world_endpoint)
    ground = GroundRun(tmp_path, "--clock", "sim")
    try:
        ops = Ops(tmp_path)
        wait_until(lambda: ops_ready(ops), what="ops answering")
        fake_exec.publish_world(True)
        hello = fake_exec.wait_for(Kind.HELLO)
        assert hello.time_s == 1.8e9
        fake_exec.hello()
        queued = ops.submit("exec.noop")
        cmd = fake_exec.wait_for(Kind.COMMAND)
        assert cmd.time_s == 1.8e9
        fake_exec.send(Kind.TELEMETRY, {"points": {"power.battery_soc_pct": 61.5}})
        ops.wait_tlm("power.battery_soc_pct", 61.5, timeout_s=5)
        final = ops.verification(queued.cmd_seq)
        assert set(final.stage_times_s.values()) == {1.8e9}
        status = ops.status()
        assert status["clock"] == "sim" and status["mission_now_s"] == 1.8e9
        with ArchiveReader(info.archive) as reader:
            sample = reader.latest("power.battery_soc_pct")
            assert sample is not None and sample.rx_s == 1.8e9
            assert reader.mission_now_s() == 1.8e9
    finally:
        ground.stop()
    assert "Traceback" not in ground.log()


class SteppedWall:
    """A wall clock that moves only when told to, and notes the sleeps asked of it."""

    def __init__(self) -> None:
        self.now_s = 100.0
        self.slept: list[float] = []

    def monotonic_s(self) -> float:
        return self.now_s

    def mission_time_s(self) -> float:
        return 1.8e9 + self.now_s

    def sleep_s(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now_s += seconds


@pytest.mark.parametrize("clock", ["sim", "real"])
def test_on_the_sim_clock_the_loop_turns_at_most_every_sim_turn_s(
        tmp_path: Path, clock: str) -> None:
    """Lockstep wakes the ground hundreds of times a wall second; on spacecraft time it
    takes them in turns of SIM_TURN_S (what it decides follows the messages' own times),
    on the wall as they come, and after a plant STOP (time then runs on the wall) too."""
    wall = SteppedWall()
    ground = GroundProcess(GroundConfig(link=free_endpoint(), ops=free_endpoint(),
                                        archive=tmp_path / "a.sqlite",
                                        world=free_endpoint(), clock=clock),
                           DICTIONARY, clock=wall)  # type: ignore[arg-type]
    try:
        ground._pace()
        wall.now_s += SIM_TURN_S / 4  # a quick turn
        ground._pace()
        wall.now_s += 2 * SIM_TURN_S  # a slow one
        ground._pace()
        if clock == "sim":
            assert wall.slept == [pytest.approx(SIM_TURN_S * 3 / 4)]
        else:
            assert wall.slept == []
        # a fast sim: 60 simulated seconds passed in the last 25 ms: 15 s a turn is 6.25 ms
        wall.now_s += SIM_TURN_S
        ground.core.world_time_s = 1.8e9
        ground._pace()
        ground.core.world_time_s = 1.8e9 + 60
        wall.now_s += SIM_TURN_S
        ground._pace()
        wall.now_s += 0.001
        ground._pace()
        if clock == "sim":
            assert wall.slept[1:] == [pytest.approx(SIM_TURN_MAX_SPAN_S / 60 * SIM_TURN_S
                                                    - 0.001)]
            del wall.slept[1:]
        ground._last_turn_frames = BUSY_LINK_FRAMES  # the flight is playing back: keep up
        wall.now_s += SIM_TURN_S / 4
        ground._pace()
        ground._last_turn_frames = 0
        assert len(wall.slept) == (1 if clock == "sim" else 0)
        ground.core.stop_reason = "plant STOP: 'done'"
        ground.request_stop(ground.core.stop_reason)
        ground._stop_at_s = wall.now_s
        ground._pace()
        wall.now_s += SIM_TURN_S / 4
        ground._pace()
        assert len(wall.slept) == (1 if clock == "sim" else 0)
    finally:
        ground.close()


def test_monitor_events_are_read_as_libzmq_writes_them() -> None:
    connected = [struct.pack("=hi", zmq.EVENT_CONNECTED, 7), b"tcp://127.0.0.1:5555"]
    assert monitor_event(connected) == zmq.EVENT_CONNECTED
    assert monitor_event([struct.pack("=hi", zmq.EVENT_DISCONNECTED, 7), b""]) == \
        zmq.EVENT_DISCONNECTED
    assert monitor_event(connected[:1]) is None  # malformed: no event, nothing raised
    assert monitor_event([b"\x01\x00", b""]) is None


def test_the_answer_to_a_stop_request_reaches_the_operator(tmp_path: Path) -> None:
    """The ground answers ``stop`` and then closes its sockets at once: with no linger
    the answer could be dropped before it left, and the operator's ``stop`` reported a
    ground that does not answer (seen in CI on a loaded host: ``NoStack`` from
    ``Ops.stop()``, the ground's log saying it had stopped on that request). An idle host
    delivers the answer before the close anyway, so the close's linger is checked too."""
    import msgpack

    ctx: zmq.Context[Any] = zmq.Context()
    lost = 0
    try:
        for i in range(20):
            ground = GroundProcess(GroundConfig(link=free_endpoint(), ops=free_endpoint(),
                                                archive=tmp_path / f"a{i}.sqlite", world=""),
                                   DICTIONARY, ctx=ctx)
            client = ctx.socket(zmq.REQ)
            client.setsockopt(zmq.LINGER, 0)
            try:
                client.connect(ground.cfg.ops)
                client.send(msgpack.packb({"op": "stop", "token": ground.ops.token}))
                deadline = time.monotonic() + 5
                while not ground.stop_reason and time.monotonic() < deadline:
                    ground.turn(50)
                assert ground.stop_reason == "stop requested over ops"
                lingers: list[int | None] = []
                close_ops = ground.ops_sock.close

                def spy(linger: int | None = None, _close: Any = close_ops,
                        _seen: list[int | None] = lingers) -> None:
                    _seen.append(linger)
                    _close(linger=linger)

                ground.ops_sock.close = spy  # type: ignore[method-assign]
                ground.close()  # what the process does next
                # however loaded the host, the answer may still leave after the close
                assert lingers and (lingers[0] or 0) >= 100, lingers
                if not client.poll(2000):
                    lost += 1
                    continue
                assert msgpack.unpackb(client.recv())["ok"] is True
            finally:
                client.close()
                ground.close()
    finally:
        ctx.term()
    assert lost == 0, f"{lost} of 20 stop answers were lost"
