"""On the sim clock, a turn that drains many simulated seconds of downlink offers the
frames to the link model as they were sent, not as one burst."""

from __future__ import annotations

from pathlib import Path

from flightsw.wire import Kind, Sequencer
from ground.archive import Archive
from ground.core import GroundCore, WallTime
from ground.link_physics import ChannelSpec, LinkPhysics

from .conftest import DICTIONARY
from .test_core import T0, world_frame


def test_a_lagging_ground_does_not_overflow_a_rate_limited_link(tmp_path: Path) -> None:
    rate_bps = 80_000.0  # 10 kB/s; the flight paces itself to it: 10 frames of 1 kB/s
    core = GroundCore(DICTIONARY, Archive(tmp_path / "a.sqlite"), clock="sim",
                      link_physics=LinkPhysics(down=ChannelSpec(rate_bps=rate_bps,
                                                                queue_s=5.0)))
    plant, fl = Sequencer("plant"), Sequencer("flight")
    wall = WallTime(0.0, 0.0)
    core.on_world(world_frame(plant, T0, True), wall)
    # twenty simulated seconds of downlink, drained by the ground in one turn
    frames = [fl.pack(Kind.TELEMETRY, T0 + k / 10, {"points": {"pad": "x" * 950}})
              for k in range(200)]
    delivered = core.on_downlink(frames, wall)
    for k in range(1, 30):  # the rest arrives as the clock moves on
        core.on_world(world_frame(plant, T0 + 20 + k, True), wall)
        delivered += core.on_downlink([], wall)
    counts = core.station.snapshot(0.0)["link_physics"]["down"]
    assert counts["overflow"] == 0  # offered as one burst: 20 s of radio time, 15 too many
    assert delivered == 200 == core.mission.records["tlm"]
