"""Bad configuration and bad plant-bus samples are refused with the key named."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from flightsw.config import ConfigError, FlightConfig
from flightsw.errors import WireError
from flightsw.hal import Actuators, Sensors


@pytest.mark.parametrize("data, words", [
    ({"payload_temp_max": 90}, "unknown flight config key"),
    ({"capture_period_s": "often"}, "must be a number"),
    ({"auto_compute": 1}, "must be true or false"),
    ({"tiles_per_capture": 16.5}, "must be a whole number"),  # was int(): 16, silently
    ({"recorder_bytes": "10"}, "must be an integer"),
    ({"battery_soc_safe_frac": 1.5}, r"within \[0, 1\]"),
    ({"battery_soc_safe_frac": 0.7}, r"battery_soc_safe_frac \(0.7\) must be below"),
    ({"payload_temp_warn_c": 60.0}, "payload_temp_target_c .* must be below"),
    ({"avionics_temp_max_c": -30.0}, "avionics_temp_min_c must be below"),
    ({"hk_period_s": 0}, "periods must be positive"),
    ({"tiles_per_capture": 1000}, "tiles_per_capture"),
    ({"hk_period_s": 0}, "periods must be positive"),
    ({"payload_temp_max_c": float("inf")}, "finite"),
])
def test_bad_flight_config_is_refused(data: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError) as info:
        FlightConfig.from_mapping(data)
    assert re.search(words, str(info.value)), str(info.value)


def test_unknown_key_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        FlightConfig.from_mapping({"hk_period": 1.0})
    assert "hk_period_s" in info.value.details["valid"]


def test_config_file_round_trip_and_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "flight.json"
    cfg = FlightConfig(capture_period_s=5.0, boot_mode="SAFE")
    path.write_text(json.dumps(cfg.to_dict()))
    assert FlightConfig.load(path) == cfg
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read"):
        FlightConfig.load(path)
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        FlightConfig.load(path)


def test_sensor_sample_round_trip_keeps_nan() -> None:
    s = Sensors(battery_soc_frac=0.5, in_contact=True, contact_station="Svalbard")
    back = Sensors.from_body(s.to_body())
    assert back.battery_soc_frac == 0.5 and back.in_contact and math.isnan(back.payload_temp_c)


def test_missing_fields_keep_defaults_unknown_fields_are_ignored() -> None:
    s = Sensors.from_body({"battery_soc_frac": 0.7, "from_a_newer_plant": 1})
    assert s.battery_soc_frac == 0.7 and math.isnan(s.battery_voltage_v)


@pytest.mark.parametrize("data, words", [
    ({"battery_soc_frac": "full"}, "must be a number"),
    ({"battery_soc_frac": True}, "must be a number"),
    ({"in_contact": 1}, "must be a bool"),
    ({"contact_station": 7}, "must be a string"),
])
def test_bad_sensor_fields_are_wire_errors(data: dict[str, object], words: str) -> None:
    with pytest.raises(WireError, match=words):
        Sensors.from_body(data)


def test_bad_actuators_are_wire_errors() -> None:
    with pytest.raises(WireError, match="must be a map"):
        Actuators.from_body({"heaters_on": [1]})
    with pytest.raises(WireError, match="must be an integer"):
        Actuators.from_body({"report_jobs_done": 1.5})
    with pytest.raises(WireError, match="must be a map"):
        Actuators.from_body([1, 2])
