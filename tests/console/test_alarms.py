"""Alarms latch until acknowledged, count repeats, and come back after acknowledgement."""

from __future__ import annotations

from pathlib import Path

import pytest

from ground.console.alarms import ALARMS_FILE, KEEP_ACKED, AlarmBook


def test_serious_events_latch_and_repeats_only_count() -> None:
    book = AlarmBook()
    assert book.observe_event(1, "mode.changed", "ACTIVITY_HI", "fine", 10.0) is None
    first = book.observe_event(2, "payload.died", "WARNING_HI", "down: crash", 20.0)
    again = book.observe_event(3, "payload.died", "WARNING_HI", "down: hang", 30.0)
    assert first is again and again is not None
    assert again.count == 2 and again.first_s == 20.0 and again.text == "down: hang"
    assert book.events_cursor == 3
    assert [a.name for a in book.unacknowledged()] == ["payload.died"]


def test_acknowledged_alarm_stays_in_the_record_and_a_new_one_opens() -> None:
    book = AlarmBook()
    alarm = book.observe_event(1, "limits.tripped", "FATAL", "x", 1.0)
    assert alarm is not None
    book.acknowledge(alarm.id, "ops1", 100.0)
    assert book.unacknowledged() == []
    assert alarm.acked_by == "ops1" and alarm.acked_at_s == 100.0
    fresh = book.observe_event(2, "limits.tripped", "FATAL", "again", 2.0)
    assert fresh is not None and fresh.id != alarm.id and fresh.count == 1
    with pytest.raises(KeyError):
        book.acknowledge(999, "ops1", 1.0)


def test_red_limit_latches_after_it_clears() -> None:
    book = AlarmBook()
    book.observe_limit("power.battery_temp_c", "ok", "t = 20", 1.0)
    assert book.alarms == []
    book.observe_limit("power.battery_temp_c", "red", "t = 50", 2.0)
    book.observe_limit("power.battery_temp_c", "red", "t = 51", 3.0)  # same excursion
    book.observe_limit("power.battery_temp_c", "yellow", "t = 42", 4.0)
    [alarm] = book.unacknowledged()
    assert alarm.count == 1 and not alarm.active and alarm.last_s == 3.0
    book.observe_limit("power.battery_temp_c", "red", "t = 52", 5.0)  # a second excursion
    assert alarm.count == 2 and alarm.active


def test_round_trip_and_damaged_books() -> None:
    book = AlarmBook()
    book.observe_event(7, "sensor.fault", "WARNING_HI", "stuck", 1.0)
    again = AlarmBook.from_json(book.to_json())
    assert again == book
    with pytest.raises(ValueError, match="not a JSON object"):
        AlarmBook.from_json([1, 2])
    with pytest.raises(ValueError, match="unreadable"):
        AlarmBook.from_json({"alarms": [{"id": "x"}]})


def test_acknowledged_history_is_bounded_but_open_alarms_never_dropped() -> None:
    book = AlarmBook()
    for i in range(KEEP_ACKED + 20):
        alarm = book.observe_event(i + 1, f"e{i}", "WARNING_HI", "t", float(i))
        assert alarm is not None
        book.acknowledge(alarm.id, "ops", float(i))
    book.observe_event(999, "open.one", "FATAL", "t", 1.0)
    assert len([a for a in book.alarms if a.acked]) == KEEP_ACKED
    assert [a.name for a in book.unacknowledged()] == ["open.one"]


def test_the_alarm_book_moves_with_its_run(tmp_path: Path) -> None:
    from hil.stack import rotate_previous_run

    (tmp_path / "archive.sqlite").write_bytes(b"")
    (tmp_path / ALARMS_FILE).write_text("{}")
    rotate_previous_run(tmp_path)
    assert not (tmp_path / ALARMS_FILE).exists()  # a new run starts without old alarms
    assert [p.name for p in (tmp_path / "runs").glob(f"*/{ALARMS_FILE}")] == [ALARMS_FILE]
