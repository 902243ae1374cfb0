"""The onboard model store through the whole executive (in-process harness, real files,
real sandbox child): chunked upload over a bad link, verification, slots, trial."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest

from flightsw.config import FlightConfig
from flightsw.harness import Harness
from flightsw.model_card import ModelCard
from flightsw.model_files import SANDBOX_SIM_S, ModelFiles
from flightsw.model_store import StoredModel, describe_missing, parse_missing
from ground.model_uplink import UploadFailed, UploadPlan, cut, plan, upload
from tests.model_uplink_harness import HarnessUplink, camera_card

SHIPPED = Path(__file__).resolve().parents[2] / "payload" / "models" / "cloud_screen_v1.onnx"


def make_harness(tmp_path: Path, cfg: FlightConfig | None = None,
                 state_path: Path | None = None) -> Harness:
    h = Harness(cfg, state_path=state_path) if cfg or state_path else Harness()
    h.executive.model_files = ModelFiles(tmp_path / "models", cpu_s=5, wall_s=30.0)
    h.run(3)
    return h


def wait_verdict(h: Harness, timeout_s: float = 60.0) -> str:
    """Run until the sandbox's verdict arrives: the event's name."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        h.run(1)
        for name in ("model.validated", "model.rejected"):
            if h.events(name):
                return name
        time.sleep(0.1)
    raise AssertionError("no verdict from the sandbox")


def wait_verdict_count(h: Harness, n: int, timeout_s: float = 60.0,
                       name: str = "model.validated") -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        h.run(1)
        if len(h.events(name)) >= n:
            return True
        time.sleep(0.1)
    return False


def store_shipped(h: Harness) -> UploadPlan:
    """Upload the shipped model over a perfect link and wait until the store holds it."""
    p = plan(SHIPPED)
    upload(HarnessUplink(h), p, round_wait_s=3)
    assert wait_verdict(h) == "model.validated"
    return p


def blob_plan(blob: bytes, *, name: str = "blob", sha256: str | None = None,
              **card: Any) -> UploadPlan:
    return cut(blob, camera_card(blob, name=name, sha256=sha256, **card))


def test_missing_ranges_round_trip() -> None:
    assert describe_missing([0, 1, 2, 3, 7, 9, 10]) == "0-3,7,9-10"
    assert parse_missing("0-3,7,9-10") == [0, 1, 2, 3, 7, 9, 10]
    assert describe_missing([]) == ""


def test_upload_over_a_lossy_duplicating_reordering_link(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    link = HarnessUplink(h, loss=0.3, duplicate=0.3, reorder=0.3, seed=1,
                         only="model.upload_chunk")
    p = plan(SHIPPED)
    rep = upload(link, p, round_wait_s=3)
    assert link.lost and link.duplicated and link.reordered
    assert rep.ended and rep.rounds >= 2
    assert rep.resent == link.lost  # only the holes went up again, nothing else
    assert wait_verdict(h) == "model.validated"
    stored = tmp_path / "models" / f"{p.sha256}.onnx"
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == p.sha256
    h.run(2)  # the next housekeeping packet
    assert h.latest("model.stored") == 1


def test_lost_answers_and_lost_status_queries_still_finish(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    link = HarnessUplink(h, loss=0.4, seed=9)  # every command, begin/status/end too
    rep = upload(link, plan(SHIPPED), round_wait_s=3)
    assert rep.ended
    assert wait_verdict(h) == "model.validated"


def test_wrong_hash_is_rejected_and_the_active_model_keeps_running(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    blob = SHIPPED.read_bytes()
    upload(HarnessUplink(h), blob_plan(blob, sha256="ab" * 32), round_wait_s=3)
    assert wait_verdict(h) == "model.rejected"
    (evt,) = h.events("model.rejected")
    assert "sha256 mismatch" in evt.text
    assert h.latest("model.active") == "shipped default"
    assert h.latest("model.rejected") == 1
    assert not list((tmp_path / "models").glob("*.onnx"))


def test_corrupted_in_transit_is_rejected(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    blob = bytearray(SHIPPED.read_bytes())
    sha = hashlib.sha256(blob).hexdigest()
    blob[100] ^= 0x10  # a bit flipped after the ground hashed it
    upload(HarnessUplink(h), blob_plan(bytes(blob), sha256=sha), round_wait_s=3)
    assert wait_verdict(h) == "model.rejected"
    assert "sha256 mismatch" in h.events("model.rejected")[0].text


def test_non_onnx_is_rejected_by_the_sandbox(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    upload(HarnessUplink(h), blob_plan(b"this is not a model\n" * 50), round_wait_s=3)
    assert wait_verdict(h) == "model.rejected"
    assert "onnxruntime cannot load it" in h.events("model.rejected")[0].text
    seq = h.command("model.activate", model="blob")
    h.run(1)
    assert h.verification(seq)[-1].stage == "failed"


def test_a_model_that_crashes_onnxruntime_is_rejected_and_the_active_one_runs_on(
        tmp_path: Path) -> None:
    from tests.payload.bad_models import aborts_onnxruntime_on_load

    h = make_harness(tmp_path, FlightConfig(capture_period_s=1.0))
    p = store_shipped(h)
    h.command("model.activate", model=p.sha256[:12])
    h.run(5)
    active, kills = h.latest("model.active"), h.payload.kills
    assert active.startswith("cloud_screen v1")
    done = h.latest("payload.jobs_done")
    upload(HarnessUplink(h), blob_plan(aborts_onnxruntime_on_load(), name="split_abort"),
           round_wait_s=3)
    assert wait_verdict_count(h, 1, name="model.rejected")
    (evt,) = h.events("model.rejected")
    assert evt.text.endswith("rejected: sandbox: crashed onnxruntime (SIGABRT)")
    h.run(5)
    assert h.latest("model.active") == active and h.payload.kills == kills  # untouched
    assert h.latest("payload.jobs_done") > done  # and still working
    assert h.latest("model.stored") == 1


@pytest.mark.parametrize(("card", "reason"), [
    ({"input_name": "pixels"}, "card input name 'pixels', model has 'tiles'"),
    ({"input_shape": ["N", 3, 32, 32]}, "card input shape [N,3,32,32], model has [N,4,32,32]"),
    ({"output_shape": ["N", 1]}, "card output shape [N,1], model has [N]"),
])
def test_a_card_that_contradicts_its_model_is_rejected(tmp_path: Path, card: dict,
                                                        reason: str) -> None:
    h = make_harness(tmp_path)
    upload(HarnessUplink(h), blob_plan(SHIPPED.read_bytes(), **card), round_wait_s=3)
    assert wait_verdict(h) == "model.rejected"
    (evt,) = h.events("model.rejected")
    assert f"model card contradicts the model: {reason}" in evt.text
    assert h.latest("model.active") == "shipped default"
    assert not list((tmp_path / "models").glob("*.onnx"))  # nothing kept, nothing staged
    assert not list((tmp_path / "models" / "incoming").glob("*"))


def test_a_validated_models_card_comes_down_and_is_listed(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    p = blob_plan(SHIPPED.read_bytes(), name="screen2", power_class="medium", accuracy=0.97)
    upload(HarnessUplink(h), p, round_wait_s=3)
    assert wait_verdict(h) == "model.validated"
    (evt,) = h.events("model.validated")
    assert evt.args["card"] == p.card.to_json()  # what the ground archives
    seq = h.command("model.list")
    h.run(1)
    note = h.verification(seq)[-1].reason
    assert f"{p.card.describe()} [staged]" in note
    assert "in tiles[N,4,32,32] out cloud_prob[N] power medium accuracy 0.9700" in note
    stored = json.loads((tmp_path / "models" / f"{p.sha256}.json").read_text())
    assert ModelCard.from_json(stored) == p.card and stored["threshold"] == 0.5


@pytest.mark.parametrize(("args", "reason"), [
    ({"input_shape": "N,,4"}, "input_shape 'N,,4' is not a shape"),
    ({"output_shape": "0"}, "output_shape '0' is not a shape"),
    ({"input_name": ""}, "must not be empty"),
])
def test_a_malformed_card_is_refused_at_upload_begin(tmp_path: Path, args: dict,
                                                     reason: str) -> None:
    h = make_harness(tmp_path)
    base = blob_plan(SHIPPED.read_bytes()).begin_args()
    seq = h.command_args("model.upload_begin", {**base, **args})
    h.run(1)
    v = h.verification(seq)[-1]
    assert v.stage == "failed" and reason in v.reason
    assert h.latest("model.upload_id") == 0


def test_truncated_upload_cannot_end(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    blob = SHIPPED.read_bytes()
    p = blob_plan(blob)
    seq = h.command_args("model.upload_begin", p.begin_args())
    h.run(1)
    assert "upload 1 open" in h.verification(seq)[-1].reason
    for i in range(len(p.chunks) - 2):  # the last two never come
        h.command_args("model.upload_chunk", p.chunk_args(1, i))
    h.run(1)
    seq = h.command("model.upload_end", upload_id=1)
    h.run(1)
    (v,) = [v for v in h.verification(seq) if v.stage == "failed"]
    n = len(p.chunks)
    assert f"missing: {n - 2}-{n - 1}" in v.reason


@pytest.mark.parametrize(("args", "reason"), [
    ({"index": 99, "data": "AAAA"}, "out of range"),
    ({"index": 0, "data": "!!not base64!!"}, "not base64"),
    ({"index": 0, "data": base64.b64encode(b"short").decode()}, "expected 768"),
    ({"upload_id": 7, "index": 0, "data": "AAAA"}, "no upload 7"),
])
def test_garbage_chunks_are_refused_with_the_reason(tmp_path: Path, args: dict,
                                                     reason: str) -> None:
    h = make_harness(tmp_path)
    h.command_args("model.upload_begin", blob_plan(SHIPPED.read_bytes()).begin_args())
    h.run(1)
    seq = h.command_args("model.upload_chunk", {"upload_id": 1, **args})
    h.run(1)
    v = h.verification(seq)[-1]
    assert v.stage == "failed" and reason in v.reason


def test_huge_and_malformed_uploads_are_refused(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    base = blob_plan(SHIPPED.read_bytes()).begin_args()
    huge = h.command_args("model.upload_begin", {**base, "size_bytes": 1 << 40})
    bad_sha = h.command_args("model.upload_begin", {**base, "sha256": "xyz"})
    h.run(1)
    assert h.verification(huge)[-1].stage == "failed"
    assert "sha256 must be 64 hex" in h.verification(bad_sha)[-1].reason


def test_activate_rollback_delete(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    p = store_shipped(h)
    kills = h.payload.kills
    seq = h.command("model.activate", model=p.sha256[:12])
    h.run(3)
    assert h.verification(seq)[-1].stage == "completed"
    assert h.latest("model.active").startswith("cloud_screen v1")
    assert h.payload.kills > kills  # the payload restarted onto it
    assert (tmp_path / "models" / "active.onnx").resolve().name == f"{p.sha256}.onnx"
    refused = h.command("model.delete", model="cloud_screen")
    h.run(1)
    assert "is active" in h.verification(refused)[-1].reason
    back = h.command("model.rollback")
    h.run(2)
    assert h.verification(back)[-1].stage == "completed"
    assert h.latest("model.active") == "shipped default"
    assert not (tmp_path / "models" / "active.onnx").exists()
    gone = h.command("model.delete", model="cloud_screen")
    h.run(1)
    assert h.verification(gone)[-1].stage == "completed"
    assert not (tmp_path / "models" / f"{p.sha256}.onnx").exists()
    again = h.command("model.activate", model="cloud_screen")  # after delete
    h.run(1)
    assert "no stored model" in h.verification(again)[-1].reason
    upload(HarnessUplink(h), p, round_wait_s=3)  # the same model uploaded after its delete
    assert len(h.events("model.validated")) == 2 or wait_verdict_count(h, 2)


def test_chunks_after_the_end_and_activation_during_verification(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    p = plan(SHIPPED)
    upload(HarnessUplink(h), p, round_wait_s=3)
    late = h.command_args("model.upload_chunk", p.chunk_args(1, 0))  # upload is verifying
    act = h.command("model.activate", model="shipped")  # already active: harmless no-op
    h.run(1)
    assert h.verification(late)[-1].stage == "failed"
    assert "already active" in h.verification(act)[-1].reason
    assert wait_verdict(h) == "model.validated"
    stale = h.command_args("model.upload_chunk", p.chunk_args(1, 0))  # upload is closed
    h.run(1)
    assert "no upload 1" in h.verification(stale)[-1].reason
    # a second model is being verified: no activation until its verdict
    upload(HarnessUplink(h), plan(SHIPPED.with_name("cloud_screen_cnn_v1.onnx")),
           round_wait_s=3)
    during = h.command("model.activate", model="cloud_screen")
    h.run(1)
    assert "being verified" in h.verification(during)[-1].reason
    assert h.latest("model.active") == "shipped default"


@pytest.mark.parametrize("orderly", [True, False], ids=["shutdown", "killed"])
def test_upload_resumes_across_an_executive_reset(tmp_path: Path, orderly: bool) -> None:
    state = tmp_path / "state.json"
    h = make_harness(tmp_path, state_path=state)
    p = plan(SHIPPED)
    h.command_args("model.upload_begin", p.begin_args())
    h.run(1)
    for i in range(0, len(p.chunks), 2):
        h.command_args("model.upload_chunk", p.chunk_args(1, i))
    h.run(2)
    if orderly:
        h.shutdown()
    # else killed mid-upload: no shutdown; the record saved after each command's cycle
    # and the chunk files (written before that save) are all the next boot has
    h2 = make_harness(tmp_path, state_path=state)
    seq = h2.command("model.upload_status", upload_id=1)
    h2.run(1)
    odd = [i for i in range(len(p.chunks)) if i % 2]
    assert f"missing: {describe_missing(odd)}" in h2.verification(seq)[-1].reason
    link = HarnessUplink(h2)
    rep = upload(link, p, round_wait_s=3)  # begin again: the same upload, resumed
    assert rep.upload_id == 1 and rep.chunks_sent == len(odd)
    assert wait_verdict(h2) == "model.validated"


def test_a_new_model_that_fails_its_first_jobs_is_rolled_back(tmp_path: Path) -> None:
    h = make_harness(tmp_path, FlightConfig(capture_period_s=2.0, restart_backoff_s=2.0,
                                            heartbeat_timeout_s=2.0))
    p = store_shipped(h)
    h.payload.next_options = {"model_sha256": p.sha256, "fail_jobs": True}
    h.command("model.activate", model="cloud_screen")
    h.run(20)
    (evt,) = h.events("model.rolled_back")
    assert "automatic" in evt.text and "failed its first jobs" in evt.text
    assert h.latest("model.active") == "shipped default"
    assert h.latest("model.rollbacks") == 1


def test_a_new_model_that_passes_its_trial_is_accepted(tmp_path: Path) -> None:
    h = make_harness(tmp_path, FlightConfig(capture_period_s=2.0))
    p = store_shipped(h)
    h.payload.next_options = {"model_sha256": p.sha256}
    h.command("model.activate", model="cloud_screen")
    h.run(20)
    assert h.events("model.accepted") and not h.events("model.rolled_back")
    assert h.latest("model.on_trial") is False
    # the new incarnation's own heartbeat, not the killed one's held last words, says
    # which model runs (it announced the old model's hash before the fix)
    assert h.core.state.payload.sup.running_model == p.sha256


def test_fault_injection_is_refused_outside_test_mode(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    seq = h.command("model.inject_fault", target="weights", bits=1, seed=0)
    h.run(1)
    assert "only in test or HIL mode" in h.verification(seq)[-1].reason
    h2 = make_harness(tmp_path, FlightConfig(fault_injection=True))
    ok = h2.command("model.inject_fault", target="weights", bits=1, seed=0)
    h2.run(1)
    assert h2.verification(ok)[-1].stage == "completed"


def test_uploader_reports_a_refusal() -> None:
    class Refusing:
        def submit(self, name: str, args: dict) -> int:
            return 1

        def outcome(self, token: int) -> tuple[bool, str]:
            return False, "size_bytes out of range"

        def wait(self, seconds: float) -> None:
            pass

    with pytest.raises(UploadFailed, match="size_bytes out of range"):
        upload(Refusing(), blob_plan(b"x" * 10))


def test_a_killed_incarnations_heartbeat_does_not_announce_the_new_one() -> None:
    # seen on the real stack: after a rollback, "#3 ready: model cloud_screen_cnn_v1"
    # came from #2's held heartbeat, while #3 had loaded cloud_screen_v1
    from dataclasses import replace

    from flightsw import payload_supervision as ps
    from flightsw.component import Tick
    from flightsw.messages import HeartbeatBody
    from flightsw.wire import Kind, Sequencer

    cfg = FlightConfig()
    st = ps.initial(cfg)
    st.sup = replace(st.sup, running=True, ready=False, incarnation=3)
    inp = ps.SuperviseInputs(powered=True, throttle_frac=1.0, lockstep=True)
    seq = Sequencer("payload")
    stale = HeartbeatBody(0, "idle", model="old", model_sha256="a" * 64, incarnation=2)
    st, _, events = ps.receive(st, seq.make(Kind.PAYLOAD_HEARTBEAT, 0.0, stale.to_body()),
                               inp, Tick(0.0, 0.0), cfg)
    assert not st.sup.ready and not events
    fresh = HeartbeatBody(0, "ready", model="new", model_sha256="b" * 64, incarnation=3)
    st, _, events = ps.receive(st, seq.make(Kind.PAYLOAD_HEARTBEAT, 0.0, fresh.to_body()),
                               inp, Tick(0.0, 0.0), cfg)
    assert st.sup.ready and st.sup.running_model == "b" * 64
    assert events[0][1]["model"] == "new"


def test_weight_repairs_reach_the_ground(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    payload = h.payload.current
    assert payload is not None
    from flightsw.messages import HeartbeatBody
    from flightsw.wire import Kind

    # the running child reports a repair, as the scrubber's counter in its heartbeat
    inc = h.core.state.payload.sup.incarnation
    payload._send(Kind.PAYLOAD_HEARTBEAT, HeartbeatBody(
        0, "idle", model="m", model_sha256="f" * 64, incarnation=inc, weight_scrubs=4,
        weight_repairs=2))
    h.run(4)
    (evt,) = h.events("payload.weights_repaired")
    assert "2 corrupted tensors" in evt.text
    assert h.latest("payload.weight_repairs") == 2


def test_a_provider_fallback_is_an_event() -> None:
    from dataclasses import replace

    from flightsw import payload_supervision as ps
    from flightsw.component import Tick
    from flightsw.messages import HeartbeatBody
    from flightsw.wire import Kind, Sequencer

    cfg = FlightConfig()
    st = ps.initial(cfg)
    st.sup = replace(st.sup, running=True, ready=False, incarnation=1)
    inp = ps.SuperviseInputs(powered=True, throttle_frac=1.0, lockstep=True)
    hb = HeartbeatBody(0, "ready", model="m", provider="CPUExecutionProvider", incarnation=1,
                       provider_fallback="CUDAExecutionProvider failed: not usable")
    st, _, events = ps.receive(st, Sequencer("payload").make(
        Kind.PAYLOAD_HEARTBEAT, 0.0, hb.to_body()), inp, Tick(0.0, 0.0), cfg)
    assert ("payload.provider_fallback", {"provider": "CPUExecutionProvider",
                                          "reason": "CUDAExecutionProvider failed: not usable"}
            ) in events
    assert ps.telemetry(st)["payload.provider"] == "CPUExecutionProvider"


def test_chunks_booked_but_lost_from_disk_are_asked_for_again(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    p = plan(SHIPPED)
    h.command_args("model.upload_begin", p.begin_args())
    h.run(1)
    for i in range(len(p.chunks)):
        h.command_args("model.upload_chunk", p.chunk_args(1, i))
    h.run(1)
    (tmp_path / "models" / "uploads" / "1" / "2.chunk").unlink()  # lost with a reset
    h.command("model.upload_end", upload_id=1)
    h.run(2)
    assert "missing from the store: 2; send them again" in h.events("model.store_fault")[0].text
    rep = upload(HarnessUplink(h), p, round_wait_s=3)  # the ground's loop mends it
    assert rep.chunks_sent == 1
    assert wait_verdict(h) == "model.validated"


def test_stored_file_corruption_is_injected_and_caught_at_load(tmp_path: Path) -> None:
    from payload.errors import ModelError
    from payload.model import load_model

    h = make_harness(tmp_path, FlightConfig(fault_injection=True))
    p = store_shipped(h)
    refused = h.command("model.inject_fault", target="stored_file", bits=2, seed=3)
    h.run(1)
    assert "shipped model is not in the store" in h.verification(refused)[-1].reason
    h.command("model.activate", model="cloud_screen")
    h.run(2)
    active = tmp_path / "models" / "active.onnx"
    assert load_model(active).sha256 == p.sha256  # loads while intact
    seq = h.command("model.inject_fault", target="stored_file", bits=2, seed=3)
    h.run(1)
    assert h.verification(seq)[-1].stage == "completed"
    with pytest.raises(ModelError, match="does not match its card's sha256"):
        load_model(active)


def _stored(i: int) -> StoredModel:
    return StoredModel(camera_card(b"", name=f"m{i}", sha256=f"{i:064x}"), size_bytes=10)


def test_the_store_keeps_at_most_its_limit_and_never_evicts_a_slot() -> None:
    from flightsw.component import Tick
    from flightsw.model_store import (
        MAX_STORED_MODELS,
        FileResult,
        ModelStoreState,
        cmd_activate,
        on_file_result,
    )

    st = ModelStoreState()
    t = Tick(0.0, 0.0)
    for i in range(1, 3):
        on_file_result(st, FileResult("verified", i, model=_stored(i)))
    cmd_activate(st, {"model": "m1"}, t)
    cmd_activate(st, {"model": "m2"}, t)  # m1 previous, m2 active
    st.pending.clear()
    for i in range(3, 3 + MAX_STORED_MODELS):
        events = on_file_result(st, FileResult("verified", i, model=_stored(i)))
    assert len(st.models) == MAX_STORED_MODELS
    assert st.active in st.models and st.previous in st.models
    assert [op.kind for op in st.pending] == ["delete"] * 2  # two staged ones went
    assert events[-1][0] == "model.deleted"


def test_the_whole_store_state_survives_a_save_and_restore(tmp_path: Path) -> None:
    from flightsw.component import persisted, restore
    from flightsw.model_store import ModelStoreState, Trial, Upload
    from flightsw.state_store import StateStore

    st = ModelStoreState(models={_stored(1).sha256: _stored(1)}, active=_stored(1).sha256,
                         uploads={3: Upload(3, 2000, camera_card(b"", name="u",
                                                                  sha256="c" * 64),
                                                    received=[0, 2])},
                         next_upload_id=4, trial=Trial(_stored(1).sha256, 5, 1, 0, 2),
                         rollbacks=1, last_verdict="ok")
    store = StateStore(tmp_path / "state.bin")  # the executive's own store
    store.save({"model_store": persisted(st)}, orderly=False, mission_time_s=1.0)
    loaded = store.load()
    assert loaded is not None and loaded.record is not None
    back = restore(ModelStoreState(), loaded.record["model_store"])
    assert back.models == st.models and back.active == st.active
    assert back.trial == st.trial and back.next_upload_id == 4
    assert back.uploads[3].missing() == [1]


def test_a_new_model_that_kills_the_payload_is_rolled_back(tmp_path: Path) -> None:
    # as a model that cannot load would: the child exits (code 3) at every start; no
    # capture in between (jobs lost to the restarts would fail it by the other rule)
    h = make_harness(tmp_path, FlightConfig(capture_period_s=600.0, restart_backoff_s=1.0,
                                            heartbeat_timeout_s=2.0))
    store_shipped(h)
    h.command("model.activate", model="cloud_screen")
    h.run(3)
    for _ in range(2):
        h.payload.crash(code=3)
        h.run(4)
    (evt,) = h.events("model.rolled_back")
    assert "payload restarted 2 times on it" in evt.text
    assert h.latest("model.active") == "shipped default"
    assert h.events("payload.escalated") == []  # the store acted before the ladder had to


def test_a_suspect_job_result_is_an_event() -> None:
    from flightsw import payload_supervision as ps
    from flightsw.component import Tick
    from flightsw.messages import ResultBody
    from flightsw.wire import Kind, Sequencer

    cfg = FlightConfig()
    st = ps.initial(cfg)
    st.in_flight[7] = ps.Job(7, 16, 1, 0.0, 0.0)
    inp = ps.SuperviseInputs(powered=True, throttle_frac=1.0, lockstep=True)
    res = ResultBody(7, ok=True, n_tiles=16, integrity="suspect",
                     integrity_note="run twice: first run differed")
    st, _, events = ps.receive(st, Sequencer("payload").make(
        Kind.PAYLOAD_RESULT, 0.0, res.to_body()), inp, Tick(0.0, 0.0), cfg)
    assert ("payload.integrity", {"job_id": 7, "verdict": "suspect",
                                  "note": "run twice: first run differed"}) in events
    assert st.jobs_done == 1  # the answer is kept (the majority's), flagged


def test_a_big_upload_goes_up_a_window_at_a_time(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    p = plan(SHIPPED)
    link = HarnessUplink(h, loss=0.2, seed=3, only="model.upload_chunk")
    rep = upload(link, p, round_wait_s=3, window=3)
    assert rep.ended and rep.chunks_sent == len(p.chunks) + link.lost
    assert max(rep.missing_per_round) == len(p.chunks) and rep.rounds >= len(p.chunks) // 3
    assert wait_verdict(h) == "model.validated"


def _lockstep_upload(tmp_path: Path, *, let_the_child_finish_first: bool) -> tuple[
        list[float], list[str], float, int]:
    """Upload the shipped model in a lockstep harness whose sandbox verdicts land at a
    fixed sim time; (verdict event times, texts, mission time at upload_end, waits)."""
    waits = []
    h = Harness()
    h.executive.model_files = ModelFiles(tmp_path / "models", cpu_s=5, wall_s=30.0,
                                         lockstep=True, while_waiting=lambda: waits.append(1))
    h.run(3)
    upload(HarnessUplink(h), plan(SHIPPED), round_wait_s=3)
    ended_s = h.clock.mission_time_s()
    if let_the_child_finish_first:  # a fast machine: the verdict is ready long before due
        for check in list(h.executive.model_files._checks.values()):
            check.proc.wait(timeout=60)
    h.run(int(SANDBOX_SIM_S) + 2)
    return (h.event_times("model.validated"), [e.text for e in h.events("model.validated")],
            ended_s, len(waits))


def test_lockstep_verdicts_land_at_a_fixed_sim_time_whatever_the_wall_clock(
        tmp_path: Path) -> None:
    slow_times, slow_texts, slow_end, slow_waits = _lockstep_upload(
        tmp_path / "slow", let_the_child_finish_first=False)
    fast_times, fast_texts, fast_end, fast_waits = _lockstep_upload(
        tmp_path / "fast", let_the_child_finish_first=True)
    assert slow_end == fast_end
    assert len(slow_times) == 1 and slow_times == fast_times
    assert slow_texts == fast_texts  # no wall-clock timings in the flight's books
    assert "lockstep: its wall-clock timings are not reported" in slow_texts[0]
    # upload_end ran within the second before the uploader saw its answer (ended_s)
    assert SANDBOX_SIM_S - 1.0 <= slow_times[0] - slow_end <= SANDBOX_SIM_S + 0.1
    assert slow_waits > 0 and fast_waits == 0  # the slow run waited, watchdog turning
