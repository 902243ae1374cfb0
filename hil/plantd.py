"""``python -m hil.plantd``: the simulated spacecraft as a process on the plant bus.

The physics is :class:`hil.plant.Plant` (pure); this is the shell around it:

- *lockstep*: send TICK (sensors at t) to the executive, wait for its ACTUATORS, step the
  physics by dt with them, publish WORLD, repeat - as fast as the two processes go, or
  paced to ``--speed`` times real time. The executive's sim clock follows these ticks.
  An executive says HELLO when it comes onto the bus; a HELLO while a TICK waits for
  its answer means the executive was reset (its launcher restarted it), so the plant
  sends that TICK again to the new one and waits afresh. Sim time does not move while
  the executive is down.
- *free running*: step on wall time (times ``--speed``), send SENSORS samples, apply the
  latest ACTUATORS whenever they come - how a board in the loop sees the world.

At the end it publishes STOP, writes the plant's summary JSON and, if asked, the HTML
report.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from flightsw.clock import RealClock
from flightsw.errors import WireError
from flightsw.hal import Actuators, Sensors
from flightsw.lifeline import die_with_parent
from flightsw.messages import ActuatorsBody, SensorsBody, TickBody
from flightsw.stackinfo import atomic_write_text
from flightsw.transport import Transport, ZmqTransport
from flightsw.unix_transport import EndpointError, UnixBusServer, is_unix_endpoint
from flightsw.wire import WORLD_SIGN_IN, Kind, Sequencer, try_decode
from hil.plant import Plant, load_profile
from hil.plant.lookahead import Lookahead

log = logging.getLogger("hil.plantd")

FIRST_REPLY_TIMEOUT_MS = 120_000  # the executive's first answer waits for the payload model
REPLY_TIMEOUT_MS = 60_000


MAX_FRAMES_PER_TURN = 1000
REJECTION_LOG_FIRST = 10
REJECTION_LOG_EVERY = 1000
"""Rejected frames are all counted; the log shows the first few and then every Nth, so
a flood of garbage on the bus cannot flood the log (and the disk) with it."""


@dataclass(frozen=True)
class BusFrame:
    """What one frame received on the plant bus means to the plant."""

    actuators: Actuators | None = None
    """New actuator settings; None when the frame was rejected."""
    reply: bool = False
    """An ACTUATORS envelope: it answers a TICK even when its body is rejected (the
    executive did answer; waiting for another reply would only stall the lockstep)."""
    error: WireError | None = None
    hello: bool = False
    """An executive (re)attached to the bus: a pending TICK must be sent again."""


def receive_frame(frame: bytes) -> BusFrame:
    """Bytes from the plant bus -> actuators or a rejection. Pure; never raises."""
    env = try_decode(frame)
    if isinstance(env, WireError):
        return BusFrame(error=env)
    if env.kind is Kind.HELLO:
        return BusFrame(hello=True)
    if env.kind is not Kind.ACTUATORS:
        return BusFrame(error=WireError("unexpected kind on the plant bus",
                                        kind=env.kind.value))
    try:
        return BusFrame(actuators=ActuatorsBody.from_body(env.body).actuators, reply=True)
    except WireError as exc:
        return BusFrame(reply=True, error=exc)
    except (TypeError, ValueError, AttributeError) as exc:  # belt and braces
        return BusFrame(reply=True, error=WireError("actuators malformed",
                                                    error=type(exc).__name__))


def open_bus(endpoint: str, ctx: zmq.Context[Any]) -> Transport:
    """The plant bus, bound: a Unix seqpacket socket for ``unix://`` (a local stack: one
    kernel hop each way, see :mod:`flightsw.unix_transport`), else a ZeroMQ PAIR (a
    board over TCP, any tool that speaks ZeroMQ)."""
    if is_unix_endpoint(endpoint):
        return UnixBusServer(endpoint)
    return ZmqTransport.pair(endpoint, bind=True, ctx=ctx, sndhwm=1000)


class PlantServer:
    def __init__(self, plant: Plant, bus_endpoint: str, world_endpoint: str,
                 ctx: zmq.Context[Any] | None = None, *, lookahead: bool = True) -> None:
        self.plant = plant
        self.lookahead: Lookahead | None = Lookahead(plant) if lookahead else None
        """Lockstep: the next step made while the executive works (hil.plant.lookahead)."""
        self.ctx = ctx or zmq.Context.instance()
        self.bus = open_bus(bus_endpoint, self.ctx)
        # XPUB: a PUB that also hears its subscriptions (see :meth:`await_sign_in`)
        self.world = self.ctx.socket(zmq.XPUB)
        self.world.setsockopt(zmq.LINGER, 500)
        self.world.setsockopt(zmq.SNDHWM, 100_000)
        self.world.bind(world_endpoint)
        self.seq_bus = Sequencer("plant")
        self.seq_world = Sequencer("plant")
        self.act = Actuators()
        self.frames_rejected = 0
        self.hellos = 0
        self._pending_tick: bytes | None = None
        self._unsent = False
        self.stop_reason = ""
        self.error = ""

    def sensors(self) -> Sensors:
        """The HAL sample (its GNSS position is the world's sub-satellite point)."""
        return self.plant.sensors()

    def publish_world(self, world: dict[str, Any] | None = None) -> None:
        self.world.send(self.seq_world.pack(Kind.WORLD, self.plant.time_utc_s,
                                            world if world is not None else self.plant.world()))

    def await_sign_in(self, timeout_s: float) -> bool:
        """Wait (bounded; a stop request ends it) until a subscriber has signed in on
        the WORLD feed (:data:`flightsw.wire.WORLD_SIGN_IN`): the ground station, which
        must see the scenario from its first WORLD to its STOP."""
        clock = RealClock()
        deadline = clock.monotonic_s() + timeout_s
        joined = b"\x01" + WORLD_SIGN_IN
        while not self.stop_reason:
            remaining = deadline - clock.monotonic_s()
            if remaining <= 0:
                return False
            if not self.world.poll(int(min(remaining, 0.2) * 1000) + 1, zmq.POLLIN):
                continue
            while self.world.poll(0, zmq.POLLIN):
                if self.world.recv() == joined:
                    return True
        return False

    def handle_frame(self, frame: bytes) -> bool:
        """Apply one frame from the bus; True if it answers a TICK. Never raises."""
        received = receive_frame(frame)
        if received.hello:
            self.hellos += 1
            if self._pending_tick is not None:
                log.warning("an executive attached while TICK was pending (hello %d): "
                            "sending it again", self.hellos)
                self._send_pending()
        if received.actuators is not None:
            self.act = received.actuators
        if received.error is not None:
            self.frames_rejected += 1
            n = self.frames_rejected
            if n <= REJECTION_LOG_FIRST or n % REJECTION_LOG_EVERY == 0:
                log.warning("rejected frame %d on the plant bus: %s", n, received.error)
        return received.reply

    def run_lockstep(self, duration_s: float, dt_s: float = 1.0,
                     speed: float | None = None, await_ground_s: float = 0.0) -> None:
        """TICK, wait for ACTUATORS, step, next TICK. The executive waits for nothing
        but the physics: a step's books (:meth:`Plant.settle`) and its WORLD are done
        after the next TICK has gone, while the executive works on it - and so is the
        next step itself, guessed with the last actuators (:mod:`hil.plant.lookahead`),
        with its TICK ready to go when the answer drives the physics the same.
        ``await_ground_s``: first wait up to that long for the ground to sign in on the
        WORLD feed (:meth:`await_sign_in`); without it, the run starts anyway, said."""
        if await_ground_s > 0 and not self.await_sign_in(await_ground_s):
            if not self.stop_reason:
                log.warning("no ground signed in on the world feed within %.0f s: "
                            "starting without it", await_ground_s)
        clock = RealClock()
        wall0 = clock.monotonic_s()
        timeout = FIRST_REPLY_TIMEOUT_MS
        look = self.lookahead
        try:
            if not self.stop_reason:
                self._send_tick(dt_s)
            while not self.stop_reason:
                more = self.plant.elapsed_s + 1e-9 < duration_s
                guessed: tuple[bytes, Sequencer] | None = None
                if more and look is not None:
                    look.begin(dt_s, self.act)
                    guessed = self._tick_after(dt_s)
                if not self._await_actuators(timeout):
                    if not self.stop_reason:
                        self.error = f"executive did not answer within {timeout / 1000:.0f} s"
                        self.stop_reason = "executive silent"
                    break
                timeout = REPLY_TIMEOUT_MS
                if not more:
                    self.stop_reason = "scenario complete"
                    break
                act = self.act
                if look is None or not look.resolve(act):
                    guessed = None
                    self.plant.advance(dt_s, self.plant.drive(act))
                if speed:
                    ahead = self.plant.elapsed_s / speed - (clock.monotonic_s() - wall0)
                    if ahead > 0:
                        clock.sleep_s(ahead)
                if not self.stop_reason:
                    if guessed is None:
                        self._send_tick(dt_s)
                    else:
                        self._pending_tick, self.seq_bus = guessed
                        self._send_pending()
                self.plant.settle(act)  # the executive is at work on the TICK meanwhile
                self.publish_world(self.plant.world())
        finally:
            if look is not None:
                look.cancel()  # no answer came for a guessed step: the plant is as it was
                log.info("lookahead: %d of %d steps made before the executive answered",
                         look.hits, look.hits + look.misses)
        self.publish_world()

    def _tick_after(self, dt_s: float) -> tuple[bytes, Sequencer]:
        """The TICK of the plant's present (guessed) state, numbered after the pending
        one on a sequencer of its own: it takes the bus's place only if the guess stands."""
        seq = Sequencer(self.seq_bus.source, self.seq_bus.next_seq)
        return self._tick(seq, dt_s), seq

    def _send_tick(self, dt_s: float) -> None:
        """Make the TICK of the plant's present state the pending one, and send it."""
        self._pending_tick = self._tick(self.seq_bus, dt_s)
        self._send_pending()

    def _tick(self, seq: Sequencer, dt_s: float) -> bytes:
        return seq.pack(Kind.TICK, self.plant.time_utc_s, TickBody(
            self.plant.elapsed_s, dt_s, self.sensors()).to_body())

    def _send_pending(self) -> None:
        """Send the pending TICK; with no executive on the bus yet it stays pending and
        goes out on the next try (never blocks: a stop request must get through)."""
        if self._pending_tick is None:
            return
        self._unsent = not self.bus.send(self._pending_tick)

    def _await_actuators(self, timeout_ms: int) -> bool:
        """Wait for the executive's answer to a TICK; False if none came in time. A
        HELLO (a restarted executive) gets the TICK again and a fresh first-answer
        wait (its payload loads its model first)."""
        remaining = timeout_ms
        while remaining > 0 and not self.stop_reason:
            if self._unsent:
                self._send_pending()
            chunk = min(remaining, 200)
            if not self.bus.wait(chunk / 1000):
                remaining -= chunk
                continue
            for frame in self.bus.receive(max_frames=1):
                hellos = self.hellos
                if self.handle_frame(frame):
                    self._pending_tick = None
                    return True
                if self.hellos != hellos:
                    remaining = max(remaining, FIRST_REPLY_TIMEOUT_MS)
        return False

    def run_free(self, duration_s: float | None, dt_s: float = 1.0, speed: float = 1.0) -> None:
        clock = RealClock()
        wall0 = clock.monotonic_s()
        while not self.stop_reason:
            for frame in self.bus.receive(MAX_FRAMES_PER_TURN):  # bounded: a flood
                self.handle_frame(frame)                          # cannot stop time
            target_elapsed = (clock.monotonic_s() - wall0) * speed
            while self.plant.elapsed_s + dt_s <= target_elapsed + 1e-9:
                self.plant.step(dt_s, self.act)
            world = self.plant.world()
            self.bus.send(self.seq_bus.pack(Kind.SENSORS, self.plant.time_utc_s,
                                            SensorsBody(self.sensors()).to_body()))
            self.publish_world(world)
            if duration_s is not None and self.plant.elapsed_s >= duration_s:
                self.stop_reason = "scenario complete"
                break
            clock.sleep_s(min(0.1, dt_s / speed))

    def stop(self, reason: str) -> None:
        self.stop_reason = reason

    def close(self) -> None:
        body = {"reason": self.stop_reason or "stopped"}
        self.bus.send(self.seq_bus.pack(Kind.STOP, self.plant.time_utc_s, body))
        self.world.send(self.seq_world.pack(Kind.STOP, self.plant.time_utc_s, body))
        if isinstance(self.bus, ZmqTransport):
            self.bus.sock.close(linger=200)  # the STOP still goes out
        else:
            self.bus.close()  # a Unix socket's STOP is in the executive's queue already
        self.world.close(linger=500)


def main(argv: list[str] | None = None) -> int:
    die_with_parent()  # the launcher's pid comes in $AISAT_PARENT_PID; see flightsw.lifeline
    p = argparse.ArgumentParser(prog="python -m hil.plantd", description=__doc__)
    p.add_argument("--profile", default="cubesat-jetson")
    p.add_argument("--bus", required=True,
                   help="plant bus endpoint to bind: unix://@NAME or unix:///PATH (a "
                        "local stack), or a ZeroMQ endpoint such as tcp://0.0.0.0:5555")
    p.add_argument("--world", required=True, help="world PUB endpoint to bind")
    p.add_argument("--lockstep", action="store_true")
    p.add_argument("--duration-s", type=float, default=None)
    p.add_argument("--dt-s", type=float, default=1.0)
    p.add_argument("--speed", type=float, default=None,
                   help="multiple of real time (lockstep default: as fast as possible)")
    p.add_argument("--no-lookahead", action="store_true",
                   help="lockstep: make each step only after the executive's answer "
                        "(default: guess it meanwhile with the last actuators; see "
                        "hil.plant.lookahead)")
    p.add_argument("--await-ground-s", type=float, default=0.0,
                   help="lockstep: wait up to this long for the ground station to sign in "
                        "on the world feed before the first TICK (default 0: do not wait)")
    p.add_argument("--summary-out", type=Path)
    p.add_argument("--report", type=Path, help="write the HTML mission report here")
    p.add_argument("--log-level", default="WARNING")
    args = p.parse_args(argv)
    if not args.await_ground_s >= 0:  # also NaN
        p.error(f"--await-ground-s must be 0 or more seconds, not {args.await_ground_s}")
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s hil.plantd %(levelname)s %(message)s")
    profile = load_profile(args.profile)
    plant = Plant(profile)
    try:
        server = PlantServer(plant, args.bus, args.world, lookahead=not args.no_lookahead)
    except (EndpointError, OSError, zmq.ZMQError) as exc:
        print(f"hil.plantd: cannot open the plant bus {args.bus!r} or the world feed "
              f"{args.world!r}: {exc}", file=sys.stderr)
        return 2

    def on_signal(signum: int, _frame: Any) -> None:
        server.stop(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    parent = os.getppid()
    try:
        if args.lockstep:
            duration = args.duration_s if args.duration_s is not None else plant.orbit_period_s
            server.run_lockstep(duration, args.dt_s, args.speed, args.await_ground_s)
        else:
            server.run_free(args.duration_s, args.dt_s, args.speed or 1.0)
    finally:
        server.close()
    if os.getppid() != parent:
        return 1  # orphaned: nobody is waiting for a summary
    summary: dict[str, Any] = dict(plant.summary())
    summary["stop_reason"] = server.stop_reason
    summary["plant_error"] = server.error
    summary["frames_rejected"] = server.frames_rejected
    summary["executive_hellos"] = server.hellos
    activity = plant.history.columns.get("payload_activity_frac") if plant.history else None
    if activity:
        summary["payload_mean_activity_pct"] = round(100.0 * sum(activity) / len(activity), 1)
    if args.summary_out:
        atomic_write_text(args.summary_out, json.dumps(summary, indent=2, default=str))
    if args.report:
        from hil.report import write_html

        write_html(plant, args.report, summary=summary, title=f"aisat {profile.name}")
    return 0 if not server.error else 1


if __name__ == "__main__":
    sys.exit(main())
