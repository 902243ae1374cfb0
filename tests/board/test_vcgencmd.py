"""The Pi firmware's replies, decoded."""

from __future__ import annotations

import pytest

from flightsw.board.vcgencmd import parse_pmic_adc, parse_temp, parse_throttled
from hil.virtual_board import PI5_PMIC_ADC


@pytest.mark.parametrize(("text", "now", "since"), [
    ("throttled=0x0", set(), set()),
    ("throttled=0x50005\n", {"under_voltage", "throttled"}, {"under_voltage", "throttled"}),
    ("throttled=0x50000", set(), {"under_voltage", "throttled"}),
    ("throttled=0xf000f", {"under_voltage", "arm_freq_capped", "throttled", "soft_temp_limit"},
     {"under_voltage", "arm_freq_capped", "throttled", "soft_temp_limit"}),
    ("throttled=0x20002", {"arm_freq_capped"}, {"arm_freq_capped"}),
])
def test_throttled_bits(text: str, now: set[str], since: set[str]) -> None:
    t = parse_throttled(text)
    assert t.now == now and t.since_boot == since


def test_bad_replies_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="get_throttled"):
        parse_throttled("error=1 error_msg=\"Command not registered\"")
    with pytest.raises(ValueError, match="measure_temp"):
        parse_temp("temp=hot")


def test_temp_and_pmic() -> None:
    assert parse_temp("temp=48.3'C\n") == 48.3
    rails = parse_pmic_adc(PI5_PMIC_ADC)
    assert rails["VDD_CORE"] == (0.7811, 0.76)
    assert "EXT5V" not in rails  # a voltage without a current is not a rail
    assert len(rails) == 8


def test_firmware_problems_are_listed_not_raised() -> None:
    from flightsw.board.vcgencmd import read_firmware

    replies = {"measure_temp": "temp=hot", "get_throttled": "throttled=0x4",
               "pmic_read_adc": "error=2 error_msg=\"Command not registered\""}
    fw = read_firmware(lambda argv: replies[argv[1]], pmic=True)
    assert fw.throttled is not None and fw.throttled.now == {"throttled"}
    assert len(fw.problems) == 2 and "measure_temp" in fw.problems[0]
    assert "no rail" in fw.problems[1]
    import math

    assert math.isnan(fw.temp_c) and math.isnan(fw.power_w)
