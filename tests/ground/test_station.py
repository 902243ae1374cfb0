"""The station's visibility rule, as a table of inputs over (fake) monotonic time."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ground.station import Direction, Station, Visibility

IN = Visibility(in_contact=True, station="svalbard")
OUT = Visibility(in_contact=False)


def test_frames_pass_only_in_contact_and_drops_are_counted() -> None:
    st = Station(edge_grace_s=0.5)
    assert st.downlink([b"a", b"b"], now_s=0.0) == []  # no WORLD yet: out of contact
    assert st.held == 2  # waiting out the edge grace, not yet dropped
    assert st.downlink([], now_s=1.0) == []
    assert st.counters.downlink_dropped_los == 2 and st.held == 0

    assert st.observe(IN, now_s=2.0) == "aos"
    assert st.downlink([b"c"], now_s=2.0) == [b"c"]
    assert st.observe(IN, now_s=2.1) is None
    assert st.observe(OUT, now_s=3.0) == "los"
    assert st.downlink([b"d"], now_s=10.0) == []
    assert st.downlink([], now_s=11.0) == []
    c = st.counters
    assert (c.downlink_offered, c.downlink_delivered, c.downlink_dropped_los) == (4, 1, 3)
    assert (c.aos, c.los) == (1, 1)


def test_frames_racing_the_contact_edges_are_not_lost() -> None:
    st = Station(edge_grace_s=0.5)
    st.observe(OUT, now_s=0.0)
    assert st.downlink([b"early"], now_s=10.0) == []  # came a moment before WORLD's AOS
    st.observe(IN, now_s=10.2)
    assert st.downlink([], now_s=10.2) == [b"early"]
    st.observe(OUT, now_s=20.0)
    assert st.downlink([b"late"], now_s=20.3) == [b"late"]  # sent just before LOS
    assert st.counters.downlink_edge == 2
    assert st.counters.downlink_dropped_los == 0


def test_uplink_is_gated_by_contact() -> None:
    st = Station()
    assert not st.uplink_open
    assert st.uplink([b"cmd"], now_s=0.0) == []
    st.observe(IN, now_s=1.0)
    assert st.uplink_open
    assert st.uplink([b"cmd"], now_s=1.0) == [b"cmd"]
    assert st.counters.uplink_delivered == 1


class DelayLine:
    """A latency model: frames leave ``delay_s`` after they entered."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.inflight: list[tuple[float, Direction, bytes]] = []

    def step(self, direction: Direction, offered: Sequence[bytes], now_s: float) -> list[bytes]:
        self.inflight += [(now_s + self.delay_s, direction, f) for f in offered]
        due = [f for t, d, f in self.inflight if d is direction and t <= now_s]
        self.inflight = [x for x in self.inflight if not (x[1] is direction and x[0] <= now_s)]
        return due


def test_a_link_model_plugs_in_as_a_step_function() -> None:
    st = Station(model=DelayLine(0.25))
    st.observe(IN, now_s=0.0)
    assert st.downlink([b"x"], now_s=0.0) == []
    assert st.downlink([], now_s=0.3) == [b"x"]


@pytest.mark.parametrize("body", [{}, {"in_contact": "yes"}, {"in_contact": 1}])
def test_world_without_a_contact_flag_is_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="in_contact"):
        Visibility.from_world(body)


def test_world_fields_are_read_leniently() -> None:
    vis = Visibility.from_world({"in_contact": True, "station": "awarua",
                                 "elevation_deg": 12, "next_pass": None,
                                 "time_utc_s": 1.8e9, "battery_soc_frac": 0.7})
    assert vis == Visibility(True, "awarua", 12.0, None, 1.8e9)
