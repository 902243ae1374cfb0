"""The board installer in dry-run mode (CI has no board): the files it writes under
--root, the commands it would run, and bad options refused with the reason."""

from __future__ import annotations

import configparser
import json
import re
import subprocess
from pathlib import Path

import pytest

from flightsw.config import FlightConfig
from hil.service_policy import FLIGHTSW, unit_settings

INSTALL = Path(__file__).resolve().parents[2] / "hil" / "install" / "install.sh"
LINK = "serial:/dev/ttyTHS1?baud=921600"
PLANT = "tcp://10.0.0.2:5601"


def _install(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True,
                          timeout=120)


def test_a_dry_run_writes_the_files_and_prints_the_commands(tmp_path: Path) -> None:
    out = _install("--root", str(tmp_path), "--dry-run", "--plant", PLANT, "--link", LINK,
                   "--profile", "cubesat-jetson", "--ground")
    assert out.returncode == 0, out.stderr
    unit_path = tmp_path / "etc/systemd/system/aisat-flightsw.service"
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(unit_path.read_text())
    service = unit["Service"]
    assert service["Type"] == "notify"
    assert service["WatchdogSec"] == unit_settings(FLIGHTSW)["WatchdogSec"]
    assert (tmp_path / "etc/systemd/system/aisat-ground.service").is_file()
    env = dict(line.split("=", 1) for line in
               (tmp_path / "etc/aisat/flightsw.env").read_text().splitlines()
               if line and not line.startswith("#"))
    assert env["AISAT_PLANT"] == PLANT and env["AISAT_LINK"] == LINK
    # every variable the unit's command line uses is one the installer sets
    used = set(re.findall(r"\$\{(\w+)\}", service["ExecStart"]))
    assert used and used <= set(env), used - set(env)
    cfg = FlightConfig.from_mapping(json.loads(
        (tmp_path / "etc/aisat/flight_config.json").read_text()))
    assert cfg.payload_temp_max_c > cfg.payload_temp_warn_c
    printed = [line for line in out.stdout.splitlines() if line.startswith("+ ")]
    text = "\n".join(printed)
    for expected in ("useradd --system", "-m venv", f"{tmp_path}/opt/aisat/venv/bin/pip install",
                     f"systemctl --root={tmp_path} enable aisat-flightsw.service",
                     "enable aisat-ground.service"):
        assert expected in text, expected
    # nothing was run: no venv, no user database under the root
    assert not (tmp_path / "opt").exists() and not (tmp_path / "etc/passwd").exists()


@pytest.mark.parametrize(("args", "words"), [
    (["--link", LINK], "--plant ENDPOINT is needed"),
    (["--plant", PLANT], "--link ENDPOINT is needed"),
    (["--plant", "udp://x", "--link", LINK], "--plant must be a tcp:// endpoint"),
    (["--plant", PLANT, "--link", "/dev/ttyTHS1"], "--link must be serial:"),
    (["--plant", PLANT, "--link", LINK, "--profile", "no-such-sat"], "unknown profile"),
    (["--plant", PLANT, "--link", LINK, "--board", "jetson"], "--board must be"),
    (["--plant", PLANT, "--link", LINK, "--frobnicate"], "unknown option --frobnicate"),
])
def test_bad_options_are_refused_with_the_reason(tmp_path: Path, args: list[str],
                                                 words: str) -> None:
    out = _install("--root", str(tmp_path), "--dry-run", *args)
    assert out.returncode == 2 and words in out.stderr, out.stderr
    assert not (tmp_path / "etc").exists()


def test_a_dry_run_needs_a_root_and_a_root_needs_a_dry_run(tmp_path: Path) -> None:
    out = _install("--dry-run", "--plant", PLANT, "--link", LINK)
    assert out.returncode == 2 and "under --root DIR" in out.stderr
    out = _install("--root", str(tmp_path), "--plant", PLANT, "--link", LINK)
    assert out.returncode == 2 and "--root is for --dry-run" in out.stderr
