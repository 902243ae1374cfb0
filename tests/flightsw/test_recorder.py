"""The store-and-forward recorder: byte bound, eviction order, send order, acks,
retransmission, and its store surviving a reopen."""

from __future__ import annotations

from pathlib import Path

import pytest

from flightsw.messages import MAX_ACK_RANGES
from flightsw.recorder import (
    RECORD_OVERHEAD_BYTES,
    RESEND_MAX_S,
    RESEND_MIN_S,
    Priority,
    Recorder,
)
from flightsw.recorder_store import RecorderStore

E, P, H = Priority.EVENT, Priority.PRODUCT, Priority.HOUSEKEEPING


def _frame(seq: int, size: int = 52) -> bytes:
    return seq.to_bytes(4, "big") + b"x" * (size - 4)


def _seqs(frames: list[bytes]) -> list[int]:
    return [int.from_bytes(f[:4], "big") for f in frames]


def _cost(size: int = 52) -> int:
    return size + RECORD_OVERHEAD_BYTES


def test_send_order_is_realtime_housekeeping_then_events_products_history() -> None:
    rec = Recorder(10_000)
    for seq, p in enumerate([H, P, E, H, E, P, H]):
        rec.store(seq, p, _frame(seq))
    # newest housekeeping first (realtime), then events, products, history oldest first
    assert _seqs(rec.select(100, 0.0)) == [6, 2, 4, 1, 5, 0, 3]


def test_unsent_frames_go_back_in_their_place() -> None:
    rec = Recorder(10_000)
    for seq, p in enumerate([H, E, E, P, H]):
        rec.store(seq, p, _frame(seq))
    assert _seqs(rec.select(3, 0.0)) == [4, 1, 2]
    rec.sent(1, 0.0)  # only the realtime packet left
    assert _seqs(rec.select(10, 0.0)) == [1, 2, 3, 0]


def test_bounded_in_bytes_with_history_decimated_first_then_products_then_events() -> None:
    rec = Recorder(10 * _cost())
    rec.store(0, E, _frame(0))
    rec.store(1, P, _frame(1))
    for seq in range(2, 10):
        rec.store(seq, H, _frame(seq))  # full: 2 events/products + 8 history
    assert rec.bytes_used == 10 * _cost() and rec.evicted_total == 0
    for seq in range(10, 14):
        rec.store(seq, E, _frame(seq))
    # history thinned, every second packet from the oldest end (3, 5, 7; the newest, 9,
    # is never thinned), then a second pass begins (4)
    hk_left = sorted(s for s, h in rec.records.items() if h.priority is H)
    assert rec.evicted[H] == 4 and hk_left == [2, 6, 8, 9]
    assert rec.bytes_used <= rec.capacity_bytes
    evicted = rec.take_evicted()
    assert [p for p, _ in evicted] == [H] * 4 and rec.take_evicted() == []
    for seq in range(14, 22):  # history runs out, then the product, then the oldest event
        rec.store(seq, E, _frame(seq))
    assert rec.evicted[H] == 8 and rec.evicted[P] == 1 and rec.evicted[E] == 3
    assert 0 not in rec.records and 1 not in rec.records


def test_decimation_thins_history_evenly() -> None:
    rec = Recorder(17 * _cost())
    for seq in range(17):
        rec.store(seq, H, _frame(seq))
    for seq in range(17, 25):
        rec.store(seq, E, _frame(seq))
    hk = sorted(s for s, h in rec.records.items() if h.priority is H)
    assert hk == [0, 2, 4, 6, 8, 10, 12, 14, 16]  # one pass: every second packet went


def test_a_record_larger_than_the_recorder_is_refused_and_counted() -> None:
    rec = Recorder(4096)
    assert not rec.store(0, P, b"x" * 5000)
    assert rec.evicted[P] == 1 and rec.refused_total == 1 and len(rec) == 0
    assert rec.take_evicted() == [(P, 0)]


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Recorder(0)


def test_sent_records_stay_until_acknowledged_and_come_again_after_the_timeout() -> None:
    rec = Recorder(10_000, resend_after_s=10.0)
    for seq in range(4):
        rec.store(seq, E, _frame(seq))
    assert _seqs(rec.select(3, 0.0)) == [0, 1, 2]
    rec.sent(3, 0.0)
    assert rec.select(0, 5.0) == [] and rec.in_flight == 3
    rec.sent(0, 5.0)
    assert rec.ack([(1, 2)], 3.0) == 1  # 1 arrived, 3 s after it left: the round trip
    assert rec.srtt_s == 3.0 and rec.timeout_s == RESEND_MIN_S  # 3 + 4 x 1.5 < the floor
    assert rec.rerequested_total == 0  # 0 and 2 left with 1: no evidence they are lost
    rec.select(1, 4.0)
    rec.sent(1, 4.0)  # 3 leaves later ...
    rec.ack([(3, 4)], 8.0)  # ... and arrives, outside the holes this ack can name
    assert rec.select(10, RESEND_MIN_S - 0.1) == []
    rec.sent(0, RESEND_MIN_S - 0.1)
    assert _seqs(rec.select(10, RESEND_MIN_S)) == [0, 2]  # never acknowledged: timed out
    rec.sent(2, RESEND_MIN_S)
    assert rec.resent_total == 2
    rec.ack([(0, 3)], RESEND_MIN_S + 3)
    assert len(rec) == 0 and rec.bytes_used == 0 and rec.acked_total == 4


def test_timeouts_wait_for_the_ground_and_back_off() -> None:
    rec = Recorder(10_000, resend_after_s=10.0)
    rec.store(0, E, _frame(0))
    rec.store(1, E, _frame(1))
    rec.select(1, 0.0)
    rec.sent(1, 0.0)
    assert rec.select(10, 100.0) == [b"\x00\x00\x00\x01" + b"x" * 48]
    rec.sent(0, 100.0)
    rec.ack([], 100.0)  # the ground speaks, but has got nothing of ours since 0 left
    assert rec.select(0, 100.0) == [] and rec.resent_total == 0
    rec.select(1, 100.0)
    rec.sent(1, 100.0)  # 1 leaves ...
    rec.ack([(1, 2)], 101.0)  # ... and arrives: 0 had its chance long ago
    assert _seqs(rec.select(10, 101.0)) == [0]
    rec.sent(1, 101.0)
    rec.store(2, E, _frame(2))
    rec.select(1, 102.0)
    rec.sent(1, 102.0)
    rec.ack([(2, 3)], 103.0)
    # the second copy of 0 waits twice the timeout
    assert rec.select(10, 101.0 + 2 * RESEND_MIN_S - 0.1) == []
    rec.sent(0, 101.0 + 2 * RESEND_MIN_S - 0.1)
    assert _seqs(rec.select(10, 101.0 + 2 * RESEND_MIN_S)) == [0]


def test_a_ground_that_lags_gets_nothing_twice_however_long_in_mission_time() -> None:
    """Lockstep: the ground is not in lockstep and lags by minutes of mission time. Acks
    that speak only of records sent before ours are no evidence that ours was lost (the
    old rule resent after RESEND_MAX_S of them: ~10,000 of ~11,300 records in a clean
    2-orbit sim); an ack of a record sent after ours is."""
    rec = Recorder(10_000, resend_after_s=10.0)
    for seq in range(3):
        rec.store(seq, E, _frame(seq))
    rec.select(1, 0.0)
    rec.sent(1, 0.0)  # 0 leaves at 0 s
    rec.select(1, 1.0)
    rec.sent(1, 1.0)  # 1 leaves at 1 s
    for t in range(2, 10 * int(RESEND_MAX_S)):  # acks of nothing newer, for a long while
        rec.ack([], float(t))
        assert rec.select(10, float(t)) == [b"\x00\x00\x00\x02" + b"x" * 48]
        rec.sent(0, float(t))
    assert rec.resent_total == 0 and rec.rerequested_total == 0
    now_s = 10 * RESEND_MAX_S
    rec.ack([(1, 2)], now_s)  # 1, sent after 0, arrived (the ack names no hole at 0)
    assert _seqs(rec.select(10, now_s)) == [0, 2]
    rec.sent(2, now_s)
    assert rec.resent_total == 1


def test_a_hole_is_resent_once_a_later_send_arrived_beyond_the_reordering() -> None:
    rec = Recorder(10_000, reorder_window_s=2.0)
    for seq in range(7):
        rec.store(seq, E, _frame(seq))
    for t, n in ((0.0, 1), (1.0, 2), (5.0, 2), (6.0, 1), (7.0, 1)):
        rec.select(n, t)
        rec.sent(n, t)
    rec.ack([(3, 5)], 5.5)  # says nothing of 0-2 (below its first range): no judgement
    assert rec.rerequested_total == 0
    rec.ack([(0, 1), (3, 5)], 6.5)  # 1 and 2 are named holes, sent well before 3 and 4
    assert rec.rerequested_total == 2
    assert _seqs(rec.select(10, 6.5)) == [1, 2]
    rec.sent(2, 6.5)
    rec.ack([(0, 1), (3, 5), (6, 7)], 7.5)  # 5 (sent at 6) may still be on its way
    assert rec.rerequested_total == 2 and rec.select(10, 7.5) == []


def test_changes_are_journalled_for_the_store_and_survive_a_reopen(tmp_path: Path) -> None:
    rec = Recorder(100_000)
    for seq in range(5):
        rec.store(seq, [E, P, H, E, H][seq], _frame(seq))
    rec.select(10, 0.0)
    rec.sent(5, 0.0)
    rec.ack([(0, 2)], 1.0)
    store = RecorderStore(tmp_path / "recorder.sqlite")
    store.apply(rec.take_changes(), next_seq=5)
    assert not rec.pending_changes()
    store.close()
    again = RecorderStore(tmp_path / "recorder.sqlite")
    saved = again.load()
    assert saved.next_seq == 5 and [s for s, _, _ in saved.records] == [2, 3, 4]
    fresh = Recorder(100_000)
    assert fresh.load(saved.records) == 3
    assert sorted(_seqs(fresh.select(10, 0.0))) == [2, 3, 4]  # all to be sent again
    assert (tmp_path / "recorder.sqlite").stat().st_mode & 0o077 == 0


def test_a_damaged_store_is_moved_aside_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "recorder.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    store = RecorderStore(path)
    saved = store.load()
    assert saved.records == [] and saved.next_seq is None
    assert saved.problems and "moved aside" in saved.problems[0]
    assert (tmp_path / "recorder.sqlite.bad").exists()


def test_a_byte_budget_ends_the_selection_at_the_frame_that_crosses_it() -> None:
    rec = Recorder(100_000)
    for seq in range(6):
        rec.store(seq, E, _frame(seq, 100))
    assert _seqs(rec.select(10, 0.0, max_bytes=250)) == [0, 1, 2]
    assert rec.sent(2, 0.0) == 200


def test_the_link_paces_itself_to_the_radio_rate() -> None:
    from flightsw import link
    from flightsw.config import FlightConfig

    st = link.initial(FlightConfig(downlink_rate_bps=8000))  # 100 bytes per fast cycle
    st.in_contact = True
    for seq in range(10):
        st.recorder.store(seq, E, _frame(seq, 60))
    sent = 0
    for _ in range(5):  # half a second: 500 bytes at most, plus one frame's overdraft
        link.new_cycle(st, 40)
        frames = link.ready_frames(st, 0.0)
        link.sent(st, len(frames), 0.0)
        sent += sum(len(f) for f in frames)
    assert 500 <= sent <= 560


def test_no_number_leaves_before_the_store_has_it(tmp_path: Path) -> None:
    """The store's next number covers every number the ground can have seen, at every
    moment a crash could come (between cycles): numbering can continue exactly."""
    from flightsw.harness import Harness
    from flightsw.recorder_store import RECORDER_FILE

    h = Harness(state_path=tmp_path / "flight_state.bin")
    for _ in range(20):
        h.run(1)
        saved = RecorderStore(tmp_path / RECORDER_FILE).load()
        assert saved.next_seq is not None
        assert max(e.seq for e in h.downlink) < saved.next_seq
        assert saved.next_seq == h.core.state.link.next_seq
        held = {s for s, _, _ in saved.records}
        # every record still held is in the store (a release may be committed later:
        # lost with a crash, it costs only a retransmission the ground drops)
        assert held >= set(h.core.state.link.recorder.records)


def test_a_probe_sends_again_what_has_waited_long_enough() -> None:
    rec = Recorder(10_000)
    for seq in range(3):
        rec.store(seq, E, _frame(seq))
    for t in (0.0, 1.0, 2.0):
        rec.select(1, t)
        rec.sent(1, t)
    assert rec.probe(2.2, older_than_s=0.5) == 2  # 0 and 1; 2 left only 0.2 s ago
    assert _seqs(rec.select(10, 2.2)) == [0, 1]


def test_an_acknowledgement_cut_to_its_range_limit_is_no_evidence_about_the_rest() -> None:
    """The priority send order fragments what arrived into more ranges than an ack can
    name; the ground names the newest MAX_ACK_RANGES of them. A record below those was
    not named - not because it is missing - and must not be sent again (24 % of a
    loss-free pass were such copies). A complete ack (fewer ranges) is evidence."""
    rec = Recorder(1 << 20, resend_after_s=10.0)
    n = 2 * MAX_ACK_RANGES + 1
    for seq in range(n):  # events on even numbers, products between them
        rec.store(seq, E if seq % 2 == 0 else P, _frame(seq))
    for k in range(n // 2 + 1):  # the events go first and arrive
        assert _seqs(rec.select(1, float(k))) == [2 * k]
        rec.sent(1, float(k))
    newest = [(s, s + 1) for s in range(0, n, 2)][-MAX_ACK_RANGES:]
    assert newest[0][0] == 2  # 0 arrived too, but the cut ack cannot say so
    later = 10 * RESEND_MAX_S
    rec.ack(newest, later)
    assert 0 not in _seqs(rec.select(100, later))  # the products go, for the first time
    rec.sent(100, later)
    assert rec.resent_total == 0 and 0 in rec.records  # held, not sent again


def test_a_complete_acknowledgement_times_out_what_it_does_not_name() -> None:
    rec = Recorder(1 << 20, resend_after_s=10.0)
    for seq in range(3):
        rec.store(seq, E, _frame(seq))
    for k in range(3):
        rec.select(1, float(k))
        rec.sent(1, float(k))
    rec.ack([(1, 2)], 3.0)  # complete, and 1 was sent after 0: 0 had its chance
    assert _seqs(rec.select(10, RESEND_MIN_S + 1)) == [0]
