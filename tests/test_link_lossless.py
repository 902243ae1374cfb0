"""A lossy link that loses nothing: the real executive (in process) and the real ground
core, with the link physics between them, over several passes with loss, corruption,
duplication and reordering, a recorder small enough to evict, and an executive reset in
the middle. At the end every downlink number the executive made is accounted for:
archived once at the ground, reported evicted, or still held onboard for the next pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from flightsw.catalog import build_dictionary
from flightsw.config import FlightConfig
from flightsw.harness import EPOCH_S, Harness
from flightsw.wire import Kind, Sequencer
from ground.archive import Archive
from ground.core import GroundCore, WallTime
from ground.link_physics import ChannelSpec, LinkPhysics, PhysicalLink
from ground.uplink_keys import UplinkKeys
from tests.archive_books import archived_seqs, doubled_points

WALL = WallTime(0.0, 0.0)  # sim clock: the wall plays no part
LOSSY = ChannelSpec(latency_s=0.02, rate_bps=2e6, loss=0.2, corrupt=0.05, duplicate=0.05,
                    reorder=0.2, reorder_delay_s=1.5)
UPLINK = ChannelSpec(latency_s=0.02, rate_bps=9600, loss=0.2, corrupt=0.05,
                     duplicate=0.05, reorder=0.2, reorder_delay_s=1.5)


def _cfg(recorder_bytes: int) -> FlightConfig:
    return FlightConfig(capture_period_s=5.0, restart_backoff_s=2.0,
                        heartbeat_timeout_s=2.0, recorder_bytes=recorder_bytes,
                        downlink_rate_bps=LOSSY.rate_bps)


class LinkBench:
    """Harness (executive, fake plant and payload) -> link physics -> ground core."""

    def __init__(self, tmp: Path, physics: LinkPhysics, cfg: FlightConfig,
                 state_path: Path | None = None) -> None:
        self.cfg = cfg
        self.state_path = state_path
        self.h = self._harness()
        self.archive_path = tmp / "archive.sqlite"
        self.archive = Archive(self.archive_path)
        self.core = GroundCore(build_dictionary(cfg), self.archive, clock="sim",
                               uplink=UplinkKeys({self.h.key_id: self.h.key}))
        self.link = PhysicalLink(physics)
        self.core.station.model = self.link
        self._down: list[bytes] = []
        self._world = Sequencer("plant")

    def _harness(self) -> Harness:
        h = Harness(self.cfg, auto_ack=False, state_path=self.state_path)
        h.link_sink = self._down_frames
        return h

    def _down_frames(self, frames: list[bytes]) -> None:
        self._down += frames

    def fly(self, seconds: int, *, in_contact: bool) -> None:
        for _ in range(seconds):
            t = EPOCH_S + self.h.elapsed_s
            self.core.on_world(self._world.pack(Kind.WORLD, t, {
                "in_contact": in_contact, "station": "Weilheim" if in_contact else "",
                "time_utc_s": t}), WALL)
            self.h.run(1, in_contact=in_contact,
                       contact_station="Weilheim" if in_contact else "")
            self.core.on_downlink(self.take_downlink(), WALL)
            self.core.pump_uplink(self.send_up, WALL)
            self.push_uplink()
            self.core.end_turn(WALL)
            self.archive.flush()

    # --- the link between them (a UART bench replaces these) ------------------------------
    def take_downlink(self) -> list[bytes]:
        frames, self._down = self._down, []
        return frames

    def send_up(self, frame: bytes) -> bool:
        return self.h.ground.send(frame)

    def push_uplink(self) -> None:
        """Move what the ground sent up on to the executive (in memory: nothing to do)."""

    def reset_executive(self) -> None:
        """kill -9 between two cycles: a new executive on the same run directory."""
        elapsed = self.h.elapsed_s
        self.h = self._harness()
        self.h.elapsed_s = elapsed

    # --- the books ------------------------------------------------------------------------
    def archived_seqs(self) -> list[int]:
        """Downlink numbers in the archive, one entry per record (a record archived twice
        would appear twice)."""
        assert doubled_points(self.archive_path) == 0
        return archived_seqs(self.archive_path)

    def evicted_seqs(self) -> set[int]:
        gone = self.core.mission.downlink.gone
        return {n for s, e in gone.ranges() for n in range(s, e)}


@dataclass
class Books:
    made: int
    archived: int
    evicted: int
    held: int
    duplicates_dropped: int
    resent: int


def _account(bench: LinkBench) -> Books:
    link = bench.h.core.state.link
    made = set(range(link.next_seq))
    archived = bench.archived_seqs()
    assert len(archived) == len(set(archived)), "a record was archived twice"
    evicted = bench.evicted_seqs()
    held = set(link.recorder.records)
    unaccounted = made - set(archived) - evicted - held
    assert not unaccounted, f"lost: {sorted(unaccounted)[:20]}"
    assert set(archived) <= made  # nothing invented (corruption never got through)
    assert not link.evicted_unreported
    return Books(len(made), len(archived), len(evicted), len(held),
                 bench.core.mission.duplicates_dropped, link.recorder.resent_total)


@pytest.fixture
def physics() -> LinkPhysics:
    return LinkPhysics(down=LOSSY, up=UPLINK, seed=3)


def test_multi_pass_lossy_link_accounts_for_every_record(tmp_path: Path,
                                                        physics: LinkPhysics) -> None:
    bench = LinkBench(tmp_path, physics, _cfg(recorder_bytes=300_000))
    for _ in range(3):
        bench.fly(240, in_contact=True)
        bench.fly(600, in_contact=False)  # the recorder fills: history is decimated
    bench.fly(600, in_contact=True)
    books = _account(bench)
    c = bench.link.counters()
    assert c["down"]["lost"] > 0 and c["down"]["fcs_rejected"] > 0
    assert c["down"]["duplicated"] > 0 and c["down"]["reordered"] > 0
    assert c["up"]["lost"] > 0  # acknowledgements were lost too
    assert c["down"]["overflow"] == 0  # the flight paced itself to the radio's rate
    assert books.evicted > 0 and books.duplicates_dropped > 0 and books.resent > 0
    assert books.held < 40  # only the last seconds' records wait for their ack
    flight = bench.h.core.state.link
    # every eviction was reported (a copy sent before its eviction may still have come)
    assert not flight.evicted_unreported
    assert books.evicted <= flight.recorder.evicted_total < books.evicted + 50
    # the ground's own counters tell the same story: what it holds is what was archived
    seq = bench.core.mission.downlink
    assert seq.got.count() == books.archived
    assert seq.rerequested > 0  # holes were named in acknowledgements, and filled
    assert seq.received == books.archived + books.duplicates_dropped
    assert bench.core.mission.snapshot()["acks_sent"] > 0
    events = {e.name for e in bench.h.events()}
    assert "link.records_evicted" in events


def test_an_executive_reset_mid_pass_loses_and_duplicates_nothing(
        tmp_path: Path, physics: LinkPhysics) -> None:
    bench = LinkBench(tmp_path, physics, _cfg(recorder_bytes=8 << 20),
                      state_path=tmp_path / "flight_state.bin")
    bench.fly(120, in_contact=True)
    bench.fly(300, in_contact=False)
    bench.fly(2, in_contact=True)  # the backlog is going down when the executive dies
    held_at_reset = len(bench.h.core.state.link.recorder)
    assert held_at_reset > 50
    bench.reset_executive()
    bench.fly(300, in_contact=True)
    books = _account(bench)
    assert books.evicted == 0 and books.held < 40
    restored = bench.h.events("link.backlog_restored")
    assert restored and int(restored[0].args["records"]) > 0
    hello = [e for e in bench.h.downlink if e.kind is Kind.HELLO and e.body["boot_id"] == 2]
    assert hello and hello[0].body["seq_continued"]
    assert bench.core.mission.downlink.epochs == 1  # one numbering across both boots
    assert bench.core.mission.snapshot()["flight_boot_id"] == 2


def test_an_always_on_relay_carries_the_link_between_passes(tmp_path: Path) -> None:
    relay = ChannelSpec(latency_s=0.04, rate_bps=1e6, loss=0.1)
    cfg = FlightConfig(capture_period_s=5.0, relay_rate_bps=relay.rate_bps)
    bench = LinkBench(tmp_path, LinkPhysics(relay=relay, seed=5), cfg)
    bench.fly(300, in_contact=False)  # never a ground station in view
    books = _account(bench)
    assert books.archived > 300 and books.held < 20
    assert bench.core.station.counters.downlink_relayed > 300
    assert bench.link.counters()["relay_down"]["lost"] > 0
    assert bench.link.counters()["down"]["offered"] == 0
