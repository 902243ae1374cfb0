"""Bad profile input gives a ProfileError naming the file, the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.plant import ProfileError, load_profile
from hil.plant.profile import PROFILE_DIR


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = (PROFILE_DIR / "cubesat-jetson.toml").read_text()
    assert old in text
    path = tmp_path / "variant.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_unknown_name_lists_valid_profiles() -> None:
    with pytest.raises(ProfileError) as err:
        load_profile("no-such-sat")
    assert "no-such-sat" in str(err.value)
    assert "cubesat-jetson" in str(err.value)


def test_missing_file() -> None:
    with pytest.raises(ProfileError, match="no such profile file"):
        load_profile("/nonexistent/dir/sat.toml")


def test_missing_key(tmp_path: Path) -> None:
    path = _variant(tmp_path, "capacity_wh = 77.0", "")
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    msg = str(err.value)
    assert str(path) in msg and "battery.capacity_wh" in msg and "missing" in msg


def test_negative_area(tmp_path: Path) -> None:
    path = _variant(tmp_path, "area_m2 = 0.42", "area_m2 = -0.42")
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    assert "array.area_m2" in str(err.value) and "> 0" in str(err.value)


def test_unknown_station_field(tmp_path: Path) -> None:
    path = _variant(tmp_path, "min_elevation_deg = 10.0", "min_elevation_deg = 10.0\nmask = 3")
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    assert "stations[5]" in str(err.value) and "'mask'" in str(err.value)


def test_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[spacecraft\nname = ")
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(path)


def test_flight_thresholds_must_be_ordered(tmp_path: Path) -> None:
    path = _variant(tmp_path, "battery_soc_floor_frac = 0.20", "battery_soc_floor_frac = 0.50")
    with pytest.raises(ProfileError, match="battery_soc_floor_frac"):
        load_profile(path)


def test_wrong_type(tmp_path: Path) -> None:
    path = _variant(tmp_path, "avionics_w = 4.0", 'avionics_w = "four"')
    with pytest.raises(ProfileError, match=r"loads\.avionics_w.*must be a number"):
        load_profile(path)
