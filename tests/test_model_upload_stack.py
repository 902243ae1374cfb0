"""The model store against the real stack: the CNN goes up the 9.6 kbit/s uplink in
chunks through the ground process, is verified and sandboxed onboard, activated (the
real payload child restarts onto it), then rolled back - all through the operator API;
its card comes down with the verdict and ``aisat ground model list`` shows it from the
archive."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ground.api import Ops
from ground.cli import main as ground_cli
from ground.model_uplink import OpsUplink, plan, upload
from hil.stack import Stack, StackOptions
from payload.model import MODELS_DIR

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    opts = StackOptions(profile="cubesat-jetson", lockstep=True, duration_s=3000.0,
                        speed=10.0, run_dir=tmp_path_factory.mktemp("models") / "run",
                        flight_overrides={"fault_injection": True})
    stack = Stack.start(opts)
    try:
        yield stack
    finally:
        stack.stop()


def test_upload_activate_inject_and_roll_back_on_the_real_stack(stack: Stack) -> None:
    p = plan(MODELS_DIR / "cloud_screen_cnn_v1.onnx")
    with Ops(stack.info.run_dir) as ops:
        ops.wait_tlm("model.active", lambda v: v is not None, timeout_s=120)
        mark = ops.mark()
        rep = upload(OpsUplink(ops), p, round_wait_s=30)
        assert rep.ended
        verdict = ops.wait_event(lambda e: e.name in ("model.validated", "model.rejected"),
                                 timeout_s=120, since=mark)
        assert verdict.name == "model.validated", verdict.text
        assert (Path(stack.info.run_dir) / "models" / f"{p.sha256}.onnx").exists()
        # its card came down with the verdict: the ground archived it and lists it
        out = io.StringIO()
        assert ground_cli(["--run-dir", str(stack.info.run_dir), "model", "list", "--json"],
                          out=out) == 0
        listing = json.loads(out.getvalue())
        assert listing["uploaded"] == [p.card.to_json()]
        assert [c["name"] for c in listing["shipped"]] == ["cloud_screen", "cloud_screen_cnn"]
        assert f"{p.card.describe()} [staged]" in listing["onboard"]
        mark = ops.mark()
        assert ops.cmd("model.activate", model="cloud_screen_cnn", timeout_s=60).ok
        ready = ops.wait_event(lambda e: e.name == "payload.ready"
                               and "cloud_screen_cnn" in e.text, timeout_s=120, since=mark)
        assert "cloud_screen_cnn_v1" in ready.text
        mark = ops.mark()
        assert ops.cmd("model.inject_fault", target="weights", bits=3, seed=5,
                       timeout_s=60, confirm=True).ok  # hazardous: the operator confirms
        repaired = ops.wait_event("payload.weights_repaired", timeout_s=120, since=mark)
        assert "corrupted tensors" in repaired.text
        mark = ops.mark()
        assert ops.cmd("model.rollback", timeout_s=60).ok
        back = ops.wait_event(lambda e: e.name == "payload.ready"
                              and "cloud_screen_v1" in e.text, timeout_s=120, since=mark)
        assert back is not None
        active = ops.wait_tlm("model.active", "shipped default", timeout_s=60)
        assert active == "shipped default"
