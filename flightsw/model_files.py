"""The model store's files: the imperative shell of :mod:`flightsw.model_store`.

Layout under ``RUN_DIR/models/``::

    uploads/<id>/<index>.chunk   chunks as they arrive (each written tmp+fsync+rename)
    incoming/<sha256>.onnx       an assembled upload while the sandbox judges it
    <sha256>.onnx, <sha256>.json a validated model and its card (the payload's format)
    active.onnx, active.json     symlinks to the active slot's model (absent: shipped)

The executive calls :func:`carry_out` after every cycle: it runs the component's
pending operations and feeds back what happened (a chunk that could not be written, a
verification verdict). Verification is asynchronous: assembling and hashing happen at
once, the sandbox (``python -m payload.sandbox``, see there) runs as a child that is
polled every cycle and killed at its wall-clock deadline, so a hanging model never
stalls the executive's 10 Hz loop. A verification an executive reset cut short (the
upload is booked as being verified, no child judges it) is started again from the chunk
files, which stay until the verdict (:meth:`ModelFiles.orphans`).

In lockstep the verdict must not depend on how fast the machine is, or two runs of one
scenario would see ``model.validated`` at different spacecraft times. There the verdict
lands exactly :data:`SANDBOX_SIM_S` of sim time after the upload ended: a child done
earlier waits for that moment; one still running then is waited for (sim time stands
still meanwhile, as for the payload's answers; the wait is bounded by the same
wall-clock deadline and keeps the watchdog fed through ``while_waiting``). The wall
clock is then only a bound: it decides nothing unless a model outlives it, and the
sandbox's load and dry-run timings, which are wall-clock measurements, are left out of
the verdict that goes into the flight's state and events. The payload finds the active model through
``active.onnx`` and, when the supervisor asks for a model by hash (its last known good
one), through ``<sha256>.onnx`` beside it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flightsw.messages import FaultBody
from flightsw.model_card import ModelCard, ModelCardError, contradictions
from flightsw.model_store import (
    FileResult,
    ModelStoreState,
    PayloadView,
    StoredModel,
    StoreOp,
    Upload,
    on_file_result,
    start_trial,
    take_ops,
    watch,
)
from flightsw.wire import Kind

if TYPE_CHECKING:
    from flightsw.topology import Topology

MODELS_DIR = "models"
ACTIVE_NAME = "active.onnx"
SANDBOX_MEMORY_MB = 512
"""Address space for the sandbox child: onnxruntime and the shipped models need ~300."""
SANDBOX_CPU_S = 20
SANDBOX_WALL_S = 60.0
"""Wall-clock deadline (a shared 2-core board is slow; CPU time is limited separately)."""
SANDBOX_SIM_S = 10.0
"""Lockstep: sim seconds from an upload's end to its verdict (the sandbox takes ~1-3 s
of wall time; the verdict lands at this fixed sim time whatever the machine)."""
WAIT_SLICE_S = 0.1
"""Lockstep: a blocking wait for the sandbox is cut in slices this long (wall time), the
watchdog turned between them."""


def store_dir(run_dir: Path) -> Path:
    return Path(run_dir) / MODELS_DIR


def active_model_path(run_dir: Path | None) -> Path | None:
    """The active stored model for the payload, or ``None``: run the configured one."""
    if run_dir is None:
        return None
    path = store_dir(run_dir) / ACTIVE_NAME
    return path if path.exists() else None


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@dataclass
class _Check:
    upload: Upload
    path: Path
    proc: subprocess.Popen[bytes]
    deadline_s: float  # wall clock
    due_sim_s: float | None = None  # lockstep: when the verdict lands, in sim time


def _no_wait_work() -> None:
    return None


class ModelFiles:
    """Does the store's file operations in ``root`` (``RUN_DIR/models``); ``lockstep``:
    verdicts land at a fixed sim time (see the module docstring), ``while_waiting`` is
    called between slices of a blocking wait for one (the executive's watchdog turn)."""

    def __init__(self, root: Path, *, python: str = sys.executable,
                 memory_mb: int = SANDBOX_MEMORY_MB, cpu_s: int = SANDBOX_CPU_S,
                 wall_s: float = SANDBOX_WALL_S, lockstep: bool = False,
                 sim_s: float = SANDBOX_SIM_S,
                 while_waiting: Callable[[], None] = _no_wait_work) -> None:
        self.root = Path(root)
        self.lockstep = lockstep
        self.sim_s = sim_s
        self.while_waiting = while_waiting
        self.python = python
        self.memory_mb = memory_mb
        self.cpu_s = cpu_s
        self.wall_s = wall_s
        self._checks: dict[int, _Check] = {}
        self.payload_faults: list[StoreOp] = []
        """Fault injections for the payload process (the executive forwards them)."""
        self.restart_reasons: list[str] = []

    # --- operations ------------------------------------------------------------------------
    def apply(self, ops: list[StoreOp], uploads: dict[int, Upload],
              now_s: float, sim_s: float = 0.0) -> list[FileResult]:
        """Carry out ``ops``; ``now_s``: wall clock, ``sim_s``: the cycle's monotonic
        time (lockstep: a verification's verdict is due :attr:`sim_s` after it)."""
        results: list[FileResult] = []
        for op in ops:
            try:
                res = self._apply(op, uploads, now_s, sim_s)
            except OSError as exc:
                res = self._failed(op, f"{type(exc).__name__}: {exc}")
            if res is not None:
                results.append(res)
        return results

    def _failed(self, op: StoreOp, reason: str) -> FileResult | None:
        if op.kind == "write_chunk":
            return FileResult("chunk_failed", op.upload_id, op.index, reason)
        if op.kind == "verify":
            return FileResult("rejected", op.upload_id, reason=f"store I/O: {reason}")
        return FileResult("fault", reason=f"{op.kind}: {reason}")

    def _apply(self, op: StoreOp, uploads: dict[int, Upload],
               now_s: float, sim_s: float) -> FileResult | None:
        if op.kind == "write_chunk":
            d = self.root / "uploads" / str(op.upload_id)
            d.mkdir(parents=True, exist_ok=True)
            _atomic_write(d / f"{op.index}.chunk", op.data)
        elif op.kind == "verify":
            return self._start_check(uploads[op.upload_id], now_s, sim_s)
        elif op.kind == "drop_upload":
            shutil.rmtree(self.root / "uploads" / str(op.upload_id), ignore_errors=True)
        elif op.kind == "link_active":
            self._link_active(op.sha256)
        elif op.kind == "delete":
            for suffix in (".onnx", ".json"):
                (self.root / f"{op.sha256}{suffix}").unlink(missing_ok=True)
        elif op.kind == "corrupt_file":
            flip_file_bits(self.root / f"{op.sha256}.onnx", op.bits, op.seed)
        elif op.kind == "payload_fault":
            self.payload_faults.append(op)
        elif op.kind == "restart_payload":
            self.restart_reasons.append(op.reason)
        return None

    def _link_active(self, sha: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for suffix in (".onnx", ".json"):
            link = self.root / f"active{suffix}"
            if not sha:
                link.unlink(missing_ok=True)
                continue
            tmp = self.root / f"active{suffix}.tmp"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(f"{sha}{suffix}")
            os.replace(tmp, link)

    # --- verification ----------------------------------------------------------------------
    def _start_check(self, up: Upload, now_s: float, sim_s: float) -> FileResult | None:
        chunks = self.root / "uploads" / str(up.upload_id)
        parts: list[bytes] = []
        lost: list[int] = []
        for i in range(up.n_chunks):
            try:
                parts.append((chunks / f"{i}.chunk").read_bytes())
            except FileNotFoundError:
                lost.append(i)
        if lost:  # booked but not on disk (a reset between the two): ask for them again
            return FileResult("chunks_lost", up.upload_id, reason=f"{len(lost)} chunk files "
                              "missing from the store", missing=tuple(lost))
        blob = b"".join(parts)
        if len(blob) != up.size_bytes:
            return self._reject(up, f"truncated: {len(blob)} B assembled, "
                                    f"{up.size_bytes} B declared")
        digest = hashlib.sha256(blob).hexdigest()
        if digest != up.sha256:
            return self._reject(up, f"sha256 mismatch: got {digest[:16]}..., declared "
                                    f"{up.sha256[:16]}...")
        incoming = self.root / "incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        path = incoming / f"{up.sha256}.onnx"
        _atomic_write(path, blob)
        argv = [self.python, "-m", "payload.sandbox", str(path), "--memory-mb",
                str(self.memory_mb), "--cpu-s", str(self.cpu_s)]
        with open(path.with_suffix(".stderr"), "wb") as err:  # the child keeps its copy
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=err)
        self._checks[up.upload_id] = _Check(up, path, proc, now_s + self.wall_s,
                                            sim_s + self.sim_s if self.lockstep else None)
        return None

    def _reject(self, up: Upload, reason: str) -> FileResult:
        shutil.rmtree(self.root / "uploads" / str(up.upload_id), ignore_errors=True)
        for suffix in (".onnx", ".stderr"):
            (self.root / "incoming" / f"{up.sha256}{suffix}").unlink(missing_ok=True)
        return FileResult("rejected", up.upload_id, reason=reason)

    def _last_words(self, check: _Check) -> str:
        """The last line the child wrote to stderr before it died (an abort's assertion,
        say), for the rejection's reason; "" if none."""
        try:
            text = check.path.with_suffix(".stderr").read_bytes()[-4096:]
        except OSError:
            return ""
        lines = [ln.strip() for ln in text.decode(errors="replace").splitlines() if ln.strip()]
        if not lines:
            return ""
        line = lines[-1]
        line = line[max(0, line.rfind("Assertion")):]  # an assert's point, not its location
        return line if len(line) <= 160 else "..." + line[-157:]

    @property
    def checking(self) -> bool:
        return bool(self._checks)

    def recover_cards(self, models: dict[str, StoredModel]) -> list[str]:
        """Give back their cards to stored models restored without one (a state record
        saved before cards were kept in it): from each model's ``SHA.json`` beside it.
        Returns what could not be recovered, for an event; such a model keeps a card
        that names only its hash (so it is reported once)."""
        lost: list[str] = []
        for sha, model in models.items():
            if model.card.sha256:
                continue
            try:
                data = json.loads((self.root / f"{sha}.json").read_text())
                model.card = ModelCard.from_json(data, source=f"{sha}.json")
            except (OSError, ValueError, ModelCardError) as exc:
                model.card = ModelCard(name="unknown", version="?", sha256=sha)
                lost.append(f"{sha[:12]}: {exc}")
        return lost

    def orphans(self, uploads: dict[int, Upload], ops: list[StoreOp]) -> list[StoreOp]:
        """Verifications to start again: uploads the store books as being verified that
        no child here judges and no op starts (an executive reset cut their sandbox)."""
        starting = {op.upload_id for op in ops if op.kind == "verify"}
        return [StoreOp("verify", up.upload_id, sha256=up.sha256)
                for up in uploads.values()
                if up.verifying and up.upload_id not in self._checks
                and up.upload_id not in starting]

    def poll(self, now_s: float, sim_s: float = 0.0) -> list[FileResult]:
        """Verdicts of sandbox children that have finished (or ran out of time); in
        lockstep, of those due by ``sim_s``, waiting for them if need be."""
        results: list[FileResult] = []
        for upload_id, check in list(self._checks.items()):
            if check.due_sim_s is not None:
                if sim_s < check.due_sim_s:
                    continue  # not yet, however early the child finished
                code = self._wait(check, now_s)
            else:
                code = check.proc.poll()
                if code is None and now_s < check.deadline_s:
                    continue
            del self._checks[upload_id]
            if code is None:
                check.proc.kill()
                check.proc.wait()
                results.append(self._reject(check.upload, f"sandbox: no verdict within "
                                                          f"{self.wall_s:g} s (hangs); killed"))
                continue
            out = check.proc.stdout.read() if check.proc.stdout else b""
            if check.proc.stdout:
                check.proc.stdout.close()
            results.append(self._verdict(check, code, out))
        return results

    def _wait(self, check: _Check, now_s: float) -> int | None:
        """Lockstep: the child's exit code, waiting for it up to its wall deadline (in
        slices, counted rather than read from a clock; ``None``: it outlived it)."""
        waited_s = 0.0
        while True:
            try:
                return check.proc.wait(timeout=WAIT_SLICE_S)
            except subprocess.TimeoutExpired:
                waited_s += WAIT_SLICE_S
            if now_s + waited_s >= check.deadline_s:
                return None
            self.while_waiting()

    def _verdict(self, check: _Check, code: int, out: bytes) -> FileResult:
        up = check.upload
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            what = {"SIGKILL": f"killed: over the sandbox limits ({self.cpu_s} CPU s, "
                               f"{self.memory_mb} MB)",
                    "SIGXCPU": f"over the sandbox CPU limit ({self.cpu_s} s)"}.get(
                        name, "crashed onnxruntime")
            said = self._last_words(check)
            return self._reject(up, f"sandbox: {what} ({name})" + (f": {said}" if said else ""))
        try:
            verdict: Any = json.loads(out.decode().strip().splitlines()[-1])
        except (ValueError, IndexError, UnicodeDecodeError):
            return self._reject(up, f"sandbox: exit code {code} without a verdict")
        if not isinstance(verdict, dict) or not verdict.get("ok"):
            reason = verdict.get("reason", "?") if isinstance(verdict, dict) else "?"
            return self._reject(up, f"sandbox: {reason}")
        try:
            found = contradictions(up.card, str(verdict["input_name"]),
                                   list(verdict["input_shape"]), str(verdict["output_name"]),
                                   list(verdict["output_shape"]))
            threshold = float(verdict["threshold"])
            report = ("loads and dry-runs (lockstep: its wall-clock timings are not "
                      "reported)" if self.lockstep else
                      f"loads in {verdict['load_ms']} ms, dry run {verdict['infer_ms']} ms, "
                      f"peak {verdict['peak_rss_mb']} MB")
        except (KeyError, TypeError, ValueError) as exc:
            return self._reject(up, f"sandbox: malformed verdict: {exc!r}")
        if found:
            return self._reject(up, "model card contradicts the model: " + "; ".join(found))
        model = StoredModel(card=up.card, size_bytes=up.size_bytes, verdict=report)
        # the payload's card format: the card plus the decision threshold the model carries
        card = {**model.card.to_json(), "threshold": threshold, "validated": model.verdict}
        _atomic_write(self.root / f"{up.sha256}.json", json.dumps(card, indent=2).encode())
        os.replace(check.path, self.root / f"{up.sha256}.onnx")
        check.path.with_suffix(".stderr").unlink(missing_ok=True)
        shutil.rmtree(self.root / "uploads" / str(up.upload_id), ignore_errors=True)
        return FileResult("verified", up.upload_id, model=model)

    def close(self) -> None:
        for check in self._checks.values():
            check.proc.kill()
            check.proc.wait()
        self._checks.clear()


def flip_file_bits(path: Path, bits: int, seed: int) -> list[int]:
    """Flip ``bits`` seeded-random bits of a file in place; returns the bit offsets."""
    data = bytearray(path.read_bytes())
    offsets = sorted(random.Random(seed).sample(range(len(data) * 8), min(bits, len(data) * 8)))
    for bit in offsets:
        data[bit // 8] ^= 1 << (bit % 8)
    _atomic_write(path, bytes(data))
    return offsets


def quiet(st: ModelStoreState, files: ModelFiles | None) -> bool:
    """Nothing for :func:`carry_out` to do: no operation booked, no sandbox judging,
    no restart or fault waiting for the payload, no verification to start again."""
    return (not st.pending and not any(up.verifying for up in st.uploads.values())
            and (files is None or not (files.checking or files.restart_reasons
                                       or files.payload_faults)))


def carry_out(core: Topology, files: ModelFiles | None, now_s: float) -> None:
    """After a cycle: run the store's file operations, feed back their results, carry
    out what concerns the payload (a restart, a fault injection for the child)."""
    st = core.state.model_store
    ops = take_ops(st)
    if files is None:
        results = [FileResult("chunk_failed", op.upload_id, op.index, "no run directory")
                   if op.kind == "write_chunk" else
                   FileResult("rejected", op.upload_id, reason="no run directory to keep "
                                                                "models in")
                   for op in ops if op.kind in ("write_chunk", "verify")]
        restarts = [op.reason for op in ops if op.kind == "restart_payload"]
        faults = [op for op in ops if op.kind == "payload_fault"]
    else:
        sim_s = core.tick().monotonic_s
        for what in files.recover_cards(st.models):  # after a restore that lacked them
            core.emit("model.store_fault", {"what": "model card", "reason": what})
        ops += files.orphans(st.uploads, ops)
        results = files.apply(ops, st.uploads, now_s, sim_s) + (
            files.poll(now_s, sim_s) if files.checking else [])
        restarts, files.restart_reasons = files.restart_reasons, []
        faults, files.payload_faults = files.payload_faults, []
    for res in results:
        if res.kind == "fault":
            core.emit("model.store_fault", {"what": "file operation", "reason": res.reason})
        else:
            core.emit_all(on_file_result(st, res))
        core.dirty = True
    for reason in restarts:
        start_trial(st, payload_view(core))  # before the restart: its incarnation
        if core.state.payload.sup.running:
            core.state.payload.restart_cause = reason
        core.dirty = True
    for op in faults:
        core.payload_out.messages.append((Kind.PAYLOAD_FAULT,
                                          FaultBody(op.target, op.bits, op.seed)))


def payload_view(core: Topology) -> PayloadView:
    p = core.state.payload
    return PayloadView(p.jobs_done, p.jobs_failed, len(p.sup.recent_restarts_s),
                       p.sup.incarnation, p.sup.ready)


def watch_trial(core: Topology) -> None:
    """1 Hz: the store judges a model on trial from the payload's books."""
    core.emit_all(watch(core.state.model_store, payload_view(core), core.tick()))
