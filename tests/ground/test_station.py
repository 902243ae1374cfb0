"""The station's visibility rule, as a table of inputs over (fake) monotonic time."""

from __future__ import annotations

import pytest

from ground.link_physics import ChannelSpec, LinkPhysics, PhysicalLink
from ground.station import Station, Visibility

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


def test_a_link_model_plugs_in_as_a_step_function() -> None:
    st = Station(model=PhysicalLink(LinkPhysics(down=ChannelSpec(latency_s=0.25))))
    st.observe(IN, now_s=0.0)
    assert st.downlink([b"x"], now_s=0.0) == []
    assert st.downlink([], now_s=0.3) == [b"x"]


def test_a_relay_carries_frames_out_of_contact_and_keeps_the_uplink_open() -> None:
    relay = ChannelSpec(latency_s=0.05)
    st = Station(model=PhysicalLink(LinkPhysics(relay=relay)))
    st.observe(OUT, now_s=0.0)
    assert st.uplink_open
    assert st.downlink([b"x"], now_s=10.0) == [] and st.counters.downlink_relayed == 1
    assert st.downlink([], now_s=10.1) == [b"x"]
    assert st.uplink([b"c"], now_s=10.1) == [] and st.uplink([], now_s=10.2) == [b"c"]
    assert st.counters.downlink_dropped_los == 0


def test_frames_still_in_the_air_at_the_end_are_counted_dropped() -> None:
    st = Station(model=PhysicalLink(LinkPhysics(down=ChannelSpec(latency_s=5.0))))
    st.observe(IN, now_s=0.0)
    st.downlink([b"a", b"b"], now_s=0.0)
    assert st.snapshot(0.0)["in_air"] == 2
    assert st.drop_held() == 2


@pytest.mark.parametrize("body", [{}, {"in_contact": "yes"}, {"in_contact": 1}])
def test_world_without_a_contact_flag_is_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="in_contact"):
        Visibility.from_world(body)


def test_world_fields_are_read_leniently() -> None:
    vis = Visibility.from_world({"in_contact": True, "station": "awarua",
                                 "elevation_deg": 12, "next_pass": None,
                                 "time_utc_s": 1.8e9, "battery_soc_frac": 0.7})
    assert vis == Visibility(True, "awarua", 12.0, None, 1.8e9)
