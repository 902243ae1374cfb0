"""``aisat ground queue`` and ``cmd --confirm`` against a real ground process out of
contact (commands wait at the ground), with the operator's token read from the run
directory."""

from __future__ import annotations

from pathlib import Path

from ground.api import Ops

from .conftest import FakeExecutive, GroundRun, write_stack
from .test_cli import run
from .test_process import ops_ready, wait_until


def test_queue_hold_release_cancel_and_hazard_confirmation(
        tmp_path: Path, fake_exec: FakeExecutive) -> None:
    write_stack(tmp_path, fake_exec.link_endpoint, fake_exec.world_endpoint)
    ground = GroundRun(tmp_path)
    rd = ("--run-dir", str(tmp_path))
    try:
        ops = Ops(tmp_path)
        wait_until(lambda: ops_ready(ops), what="ops answering")
        fake_exec.publish_world(False)  # out of contact: everything waits at the ground
        code, _, err = run(*rd, "cmd", "mode.set", "mode=SAFE", "--no-wait")
        assert code == 2 and "hazardous" in err and "--confirm" in err
        code, out, _ = run(*rd, "cmd", "mode.set", "mode=SAFE", "--no-wait", "--confirm")
        assert code == 0 and out.strip() == "#0 mode.set mode=SAFE: queued"
        assert run(*rd, "cmd", "exec.noop", "--no-wait")[0] == 0
        code, out, _ = run(*rd, "queue", "hold", "#0")
        assert code == 0 and "#0 mode.set: held (held)" in out
        code, out, _ = run(*rd, "queue")
        assert code == 0 and "held" in out.splitlines()[0] and "queued" in out
        code, _, err = run(*rd, "queue", "hold", "0")
        assert code == 1 and "not queued: it is held" in err
        assert run(*rd, "queue", "release", "0")[0] == 0
        code, out, _ = run(*rd, "queue", "cancel", "1")
        assert code == 0 and "cancelled" in out
        code, _, err = run(*rd, "queue", "cancel", "1")
        assert code == 1 and "already finished" in err
        code, _, err = run(*rd, "queue", "hold", "seven")
        assert code == 2 and "integer" in err
        code, _, err = run(*rd, "queue", "release")
        assert code == 2 and "SEQ" in err
        code, out, _ = run(*rd, "status")
        assert "uplink key: 1" in out and "queued: #0 mode.set" in out
    finally:
        ground.stop()
    assert "Traceback" not in ground.log()


def test_rotate_key_out_of_contact_waits_and_says_the_ground_keeps_its_key(
        tmp_path: Path, fake_exec: FakeExecutive) -> None:
    write_stack(tmp_path, fake_exec.link_endpoint, fake_exec.world_endpoint)
    ground = GroundRun(tmp_path)
    try:
        ops = Ops(tmp_path)
        wait_until(lambda: ops_ready(ops), what="ops answering")
        fake_exec.publish_world(False)
        code, out, err = run("--run-dir", str(tmp_path), "rotate-key", "--timeout", "0.3")
        assert code == 1 and "auth.key_rotate to key 2: queued" in out
        assert "keeps the current key" in err
        assert (tmp_path / "keys" / "uplink-2.pending").exists()
        assert ops.status()["uplink_keys"]["key_id"] == 1
    finally:
        ground.stop()
