"""The flight side of acknowledgements and eviction reports, through the real executive
in process: hostile acknowledgements are rejected and counted, never raised; evictions
are reported in contact only, and survive a reset until reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flightsw.config import FlightConfig
from flightsw.harness import EPOCH_S, Harness
from flightsw.wire import Kind, Sequencer


@pytest.mark.parametrize("body", [
    {},
    {"boot_id": 1},
    {"boot_id": "1", "ranges": []},
    {"boot_id": 1, "ranges": "0-5"},
    {"boot_id": 1, "ranges": [[5, 2]]},
    {"boot_id": 1, "ranges": [[-1, 3]]},
    {"boot_id": 1, "ranges": [[0, 2**63 + 5]]},
    {"boot_id": 1, "ranges": [[True, 3]]},
    {"boot_id": 1, "ranges": [[1, 2, 3]]},
    {"boot_id": 1, "ranges": [[0, 1]] * 33},
    {"boot_id": 1, "ranges": [[0.5, 3]]},
])
def test_hostile_acknowledgements_are_rejected_and_counted(body: dict[str, Any]) -> None:
    h = Harness(auto_ack=False)
    h.run(3)
    held = len(h.core.state.link.recorder)
    assert held > 0
    h.uplink_raw(Sequencer("ground").pack(Kind.ACK, EPOCH_S, body))
    h.run(1)
    rejected = h.events("exec.frame_rejected")
    assert rejected and "bad ack" in rejected[-1].text
    assert h.core.state.link.acks_rejected == 1
    assert h.core.state.counters.cycle_faults == 0
    assert len(h.core.state.link.recorder) >= held  # nothing was released


def test_an_acknowledgement_releases_only_its_boots_records() -> None:
    h = Harness(auto_ack=False)
    h.run(3)
    link = h.core.state.link
    held = sorted(link.recorder.records)
    stale = {"boot_id": link.boot_id + 7, "ranges": [[held[0], held[-1] + 1]]}
    h.uplink_raw(Sequencer("ground").pack(Kind.ACK, EPOCH_S, stale))
    h.run(1)
    assert link.acks_stale == 1 and set(held) <= set(link.recorder.records)
    h.ack(held)
    h.run(1)
    assert not set(held) & set(link.recorder.records)


def test_evictions_are_reported_in_contact_only_and_survive_a_reset(tmp_path: Path) -> None:
    cfg = FlightConfig(capture_period_s=5.0, recorder_bytes=60_000)
    path = tmp_path / "flight_state.bin"
    first = Harness(cfg, state_path=path, auto_ack=False)
    first.run(200, in_contact=False, contact_station="")  # full: history is decimated
    link = first.core.state.link
    assert link.recorder.evicted_total > 0 and link.evicted_unreported
    assert not first.events("link.records_evicted")  # a report would only be evicted
    unreported = {n for _, a, b in link.evicted_unreported for n in range(a, b + 1)}
    second = Harness(cfg, state_path=path, auto_ack=False)  # kill -9, then a boot
    second.run(3, in_contact=True, contact_station="Weilheim")
    reports = second.events("link.records_evicted")
    assert reports
    reported = {n for r in reports for a, b in r.args["ranges"] for n in range(a, b + 1)}
    assert unreported <= reported  # committed with the records they replaced


def test_with_a_radio_rate_the_bytes_not_the_frame_count_limit_a_cycle() -> None:
    """A backlog of small records (events ~300 B) at 40 frames a cycle filled 88 % of a
    2 Mbit/s pass; the frame budget now follows what the rate carries."""
    from flightsw import link
    from flightsw.component import Tick

    st = link.initial(FlightConfig(downlink_rate_bps=2e6))
    for k in range(2000):
        link.record(st, Kind.EVENT, {"name": "x.y", "args": {"k": k}, "text": "t" * 200},
                    EPOCH_S)
    link.set_contact(st, True, "s", Tick(EPOCH_S, 0.0))
    link.new_cycle(st, link.FRAMES_PER_SECOND // 10)
    frames = link.ready_frames(st, EPOCH_S)
    link.sent(st, len(frames), EPOCH_S)
    assert len(frames) > link.FRAMES_PER_SECOND // 10
    assert sum(len(f) for f in frames) >= st.bytes_per_cycle  # the radio's share, filled
