"""The store-and-forward recorder: byte bound, eviction order, send order, acks,
retransmission, and its store surviving a reopen."""

from __future__ import annotations

from pathlib import Path

import pytest

from flightsw.recorder import RECORD_OVERHEAD_BYTES, Priority, Recorder
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
    for seq in range(3):
        rec.store(seq, E, _frame(seq))
    assert _seqs(rec.select(10, 0.0)) == [0, 1, 2]
    rec.sent(3, 0.0)
    assert rec.select(10, 5.0) == [] and rec.in_flight == 3
    rec.sent(0, 5.0)
    assert rec.ack([(1, 2)], 3.0) == 1  # 1 arrived, 3 s after it left: the round trip
    assert rec.srtt_s == 3.0 and rec.timeout_s == 3.0 + 4 * 1.5
    # 0 is a hole below an acknowledged number: the ground's re-request (sent 3 s ago,
    # more than the guard of max(2 s, round trip + 2 deviations) = 6 s? no: not yet)
    assert rec.rerequested_total == 0
    rec.ack([(1, 2)], 6.0)  # the same acknowledgement again, later: now it is a hole
    assert rec.rerequested_total == 1
    assert _seqs(rec.select(10, 6.0)) == [0]
    rec.sent(1, 6.0)
    assert _seqs(rec.select(10, 8.9)) == []
    assert _seqs(rec.select(10, 9.0)) == [2]  # never acknowledged: timed out (9 s)
    rec.sent(1, 9.0)
    assert rec.resent_total == 2
    rec.ack([(0, 3)], 13.0)
    assert len(rec) == 0 and rec.bytes_used == 0 and rec.acked_total == 3


def test_a_hole_is_not_resent_while_its_copy_may_still_be_on_the_way() -> None:
    rec = Recorder(10_000, rerequest_guard_s=2.0)
    for seq in range(2):
        rec.store(seq, E, _frame(seq))
    rec.select(10, 0.0)
    rec.sent(2, 0.0)
    rec.ack([(1, 2)], 0.5)
    assert rec.rerequested_total == 0 and rec.select(10, 0.5) == []


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
