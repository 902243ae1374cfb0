"""The channel model: strict parsing, rate and latency on the time handed in, the
misbehaviours at their configured rates, every frame in one bucket, and repeatable."""

from __future__ import annotations

import random

import pytest

from ground.link_physics import Channel, ChannelSpec, LinkPhysics, PhysicalLink, parse_link


def test_parse_link_reads_a_profile_table_strictly() -> None:
    phys = parse_link({"seed": 7, "down": {"latency_s": 0.004, "rate_bps": 2e6,
                                           "loss": 0.1},
                       "up": {"rate_bps": 9600}, "relay": {"latency_s": 0.05}})
    assert phys.down == ChannelSpec(latency_s=0.004, rate_bps=2e6, loss=0.1)
    assert phys.up.rate_bps == 9600 and phys.relay is not None and phys.seed == 7
    assert parse_link({}).ideal


@pytest.mark.parametrize("table, match", [
    ({"down": {"los": 0.1}}, r"link.down: unknown key\(s\) 'los'"),
    ({"down": {"loss": 1.5}}, "link.down: loss is a probability"),
    ({"up": {"rate_bps": -1}}, "link.up: rate_bps must be a finite number >= 0"),
    ({"up": {"latency_s": "fast"}}, "link.up: latency_s must be a finite number"),
    ({"relay": 3}, "link.relay must be a table"),
    ({"seed": 1.5}, "link.seed must be an integer"),
    ({"downlink": {}}, r"unknown key\(s\) 'downlink'"),
])
def test_bad_link_tables_say_which_key(table: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_link(table)


def test_rate_serialises_frames_and_latency_adds_on_top() -> None:
    ch = Channel(ChannelSpec(latency_s=0.1, rate_bps=8000), random.Random(0))
    ch.offer([b"x" * 100, b"y" * 100], now_s=0.0)  # 0.1 s of air time each
    assert ch.deliver(0.19) == []
    assert ch.deliver(0.2) == [b"x" * 100]
    assert ch.deliver(0.31) == [b"y" * 100]  # 0.3 plus rounding


def test_a_full_transmit_queue_drops_and_counts() -> None:
    ch = Channel(ChannelSpec(rate_bps=8000, queue_s=0.25), random.Random(0))
    ch.offer([b"x" * 100] * 5, now_s=0.0)  # starts at 0, .1, .2; .3 and .4 would wait
    assert ch.counters.overflow == 2
    assert len(ch.deliver(10.0)) == 3


@pytest.mark.parametrize("fcs", [False, True])
def test_misbehaviours_happen_at_their_rates_and_every_frame_lands_in_a_bucket(
        fcs: bool) -> None:
    spec = ChannelSpec(loss=0.2, corrupt=0.1, duplicate=0.1, reorder=0.3,
                       reorder_delay_s=1.0, fcs=fcs)
    ch = Channel(spec, random.Random(1))
    frames = [i.to_bytes(4, "big") * 8 for i in range(5000)]
    for i, f in enumerate(frames):
        ch.offer([f], now_s=i * 0.01)
    out = ch.deliver(1e9)
    c = ch.counters
    assert c.offered == 5000 and c.delivered == len(out)
    assert c.delivered == (c.offered - c.lost - c.overflow + c.duplicated
                           - c.fcs_rejected)
    assert 0.17 < c.lost / 5000 < 0.23
    assert 0.07 < c.duplicated / 4000 < 0.13 and 0.07 < c.corrupted / 4000 < 0.13
    intact = [f for f in out if f in set(frames)]
    if fcs:  # the frame check caught every corrupted copy
        assert len(intact) == len(out) and c.fcs_rejected >= c.corrupted
    else:
        assert len(intact) < len(out) and c.fcs_rejected == 0
    order = [frames.index(f) for f in intact]
    assert order != sorted(order)  # reordered


def test_the_same_seed_gives_the_same_link() -> None:
    def run() -> list[bytes]:
        link = PhysicalLink(LinkPhysics(down=ChannelSpec(loss=0.3, corrupt=0.2,
                                                         reorder=0.5), seed=42))
        got: list[bytes] = []
        for i in range(200):
            got += link.step("down", [bytes([i % 256]) * 20], now_s=i * 0.1)
        return got + link.step("down", [], now_s=1e6)

    assert run() == run()


def test_every_shipped_profile_has_a_link_and_a_bad_one_is_refused_by_key() -> None:
    from hil.plant.errors import ProfileError
    from hil.plant.profile import PROFILE_DIR, list_profiles, load_profile, parse_profile, tomllib

    for name in list_profiles():
        profile = load_profile(name)
        assert profile.link is not None and profile.link.down.rate_bps > 0
        assert profile.flight["downlink_rate_bps"] == profile.link.down.rate_bps
    data = tomllib.loads((PROFILE_DIR / "cubesat-jetson.toml").read_text())
    data["link"]["down"]["loss"] = 2.0
    with pytest.raises(ProfileError, match="loss is a probability") as err:
        parse_profile(data)
    assert "link" in str(err.value)
