"""The scripting API's reads and waits over a real archive; failures explain themselves."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from flightsw.stackinfo import StackInfo
from flightsw.wire import Kind, Sequencer
from ground.api import Ops
from ground.archive import Archive
from ground.errors import GroundError, WaitTimeout
from ground.mission_control import MissionControl
from ground.predicates import between, gt, lt

from .conftest import DICTIONARY, free_endpoint

T0 = 1.8e9


class Flight:
    """Writes downlink records into the archive the way the ground process would."""

    def __init__(self, path: Path) -> None:
        self.mc = MissionControl(DICTIONARY, Archive(path))
        self.seq = Sequencer("flight")

    def tlm(self, **points: object) -> None:
        named = {k.replace("__", "."): v for k, v in points.items()}
        self.mc.on_frame(self.seq.pack(Kind.TELEMETRY, T0 + self.seq.next_seq,
                                       {"points": named}), T0)
        self.mc.archive.flush()

    def event(self, name: str, **args: object) -> None:
        self.mc.on_frame(self.seq.pack(Kind.EVENT, T0, {"name": name, "severity": "ACTIVITY_HI",
                                                        "text": name, "args": args}), T0)
        self.mc.archive.flush()

    def result(self, jobs: int) -> None:
        self.mc.on_frame(self.seq.pack(Kind.RESULT, T0, {"jobs": jobs}), T0)
        self.mc.archive.flush()


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Ops, Flight]:
    archive = tmp_path / "ground.sqlite"
    flight = Flight(archive)
    info = StackInfo(run_dir=str(tmp_path), ops=free_endpoint(), archive=str(archive))
    return Ops(info=info), flight


def later(delay_s: float, action: object) -> threading.Thread:
    def run() -> None:
        time.sleep(delay_s)
        action()  # type: ignore[operator]

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_wait_tlm_sees_every_sample_not_just_the_latest(setup: tuple[Ops, Flight]) -> None:
    ops, flight = setup
    mark = ops.mark()
    flight.tlm(power__battery_soc_pct=40.0)
    flight.tlm(power__battery_soc_pct=55.0)  # satisfied briefly...
    flight.tlm(power__battery_soc_pct=45.0)  # ...and gone again by the time we look
    assert ops.wait_tlm("power.battery_soc_pct", between(50, 60), timeout_s=1,
                        since=mark) == 55.0
    assert ops.wait_tlm("power.battery_soc_pct", timeout_s=1) == 45.0  # latest counts


def test_wait_tlm_returns_a_new_sample_that_satisfies(setup: tuple[Ops, Flight]) -> None:
    ops, flight = setup
    flight.tlm(power__battery_soc_pct=40.0)
    mark = ops.mark()
    def two_samples() -> None:
        flight.tlm(power__battery_soc_pct=55.0)
        flight.tlm(power__battery_soc_pct=45.0)

    later(0.1, two_samples)
    assert ops.wait_tlm("power.battery_soc_pct", gt(50), timeout_s=3, since=mark) == 55.0
    assert ops.latest("power.battery_soc_pct").value == 45.0  # type: ignore[union-attr]


def test_wait_tlm_timeout_says_what_was_seen(setup: tuple[Ops, Flight]) -> None:
    ops, flight = setup
    for v in (41.0, 42.0, 43.2):
        flight.tlm(power__battery_soc_pct=v)
    with pytest.raises(WaitTimeout) as err:
        ops.wait_tlm("power.battery_soc_pct", gt(50), timeout_s=0.2, since="latest")
    text = str(err.value)
    assert "wait_tlm('power.battery_soc_pct', > 50) timed out after 0.2 s" in text
    assert "last value 43.2 at t=2027-01-15T08:00:02.000Z (onboard), 1 samples seen" in text


def test_wait_tlm_with_no_samples_and_unknown_points(setup: tuple[Ops, Flight]) -> None:
    ops, _ = setup
    with pytest.raises(WaitTimeout, match="no samples seen"):
        ops.wait_tlm("power.battery_soc_pct", lt(10), timeout_s=0.1)
    with pytest.raises(GroundError, match="unknown telemetry point") as err:
        ops.wait_tlm("power.battery_soc", gt(1), timeout_s=5)
    assert err.value.details["did_you_mean"][0] == "power.battery_soc_pct"


def test_wait_event_by_name_or_predicate_since_a_mark(setup: tuple[Ops, Flight]) -> None:
    ops, flight = setup
    flight.event("link.aos", station="old")
    mark = ops.mark()
    with pytest.raises(WaitTimeout, match="0 other events seen"):
        ops.wait_event("link.aos", timeout_s=0.1, since=mark)
    flight.event("exec.boot")
    flight.event("link.aos", station="new")
    assert ops.wait_event("link.aos", timeout_s=1, since=mark).args == {"station": "new"}
    row = ops.wait_event(lambda e: e.args.get("station") == "new", timeout_s=1, since=mark)
    assert row.name == "link.aos"
    with pytest.raises(GroundError, match="unknown event"):
        ops.wait_event("link.aoss")


def test_wait_result_and_never(setup: tuple[Ops, Flight]) -> None:
    ops, flight = setup
    later(0.1, lambda: flight.result(jobs=4))
    assert ops.wait_result(timeout_s=3).body == {"jobs": 4}
    with pytest.raises(WaitTimeout, match="no data product"):
        ops.wait_result(timeout_s=0.1)

    later(0.05, lambda: flight.tlm(thermal__payload_temp_c=60.0))
    assert ops.never("thermal.payload_temp_c", gt(85), during_s=0.3) == 1
    later(0.05, lambda: flight.tlm(thermal__payload_temp_c=91.0))
    with pytest.raises(GroundError, match=r"never\('thermal.payload_temp_c', > 85\) violated"):
        ops.never("thermal.payload_temp_c", gt(85), during_s=1)
