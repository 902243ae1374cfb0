"""The onboard model store as a component: uploads, slots and verdicts, with no I/O.

Why a component: what the store holds (which model is active, which is the previous one,
which upload chunks have arrived) must survive an executive reset and be one part of the
state record, like every other book the executive keeps. The bytes themselves live in
files under the run directory; this module only decides, and leaves *file operations*
(:class:`StoreOp`) in ``pending`` for the shell (:mod:`flightsw.model_files`), which
reports back with :func:`on_file_result`.

Upload protocol (over the ordinary command path, so it rides the acknowledged link and
its verification reports):

1. ``model.upload_begin(name, version, size_bytes, sha256, power_class, accuracy,
   input_name, input_shape, output_name, output_shape)``: the file and its model card
   (:mod:`flightsw.model_card`) -> an upload id (in the verification note and
   ``model.upload_id`` telemetry);
2. ``model.upload_chunk(upload_id, index, data)`` with ``data`` base64 of
   :data:`CHUNK_BYTES` raw bytes (the last chunk shorter). Duplicates are harmless,
   order does not matter; a chunk of the wrong length or index is refused with why;
3. ``model.upload_status(upload_id)``: the note lists the missing chunks, so the ground
   resends only those (a lost command just leaves a hole);
4. ``model.upload_end(upload_id)``: refused while chunks are missing; otherwise the
   shell assembles the file, checks its SHA-256 and validates it in a sandbox child
   (onnxruntime loads it and runs a dry inference under time and memory limits); a card
   whose input or output name or shape differs from what onnxruntime reports is
   rejected. The verdict arrives as ``model.validated`` (carrying the card, so the
   ground archives it) or ``model.rejected`` (with the reason).

Chunk size: the uplink is 9.6 kbit/s (every profile's ``[link.up]``) and the station
queues at most ``queue_s`` = 5 s of it (6 kB); the wire allows 1 MiB frames, so the
radio, not the codec, sets the size. 768 raw bytes are 1,024 base64 characters (the
dictionary has no byte-string argument type), a 1,110-byte command frame (+19 bytes of
uplink authentication) that is 0.93 s on air: four fit the station's queue, a lost one
costs under a second to resend, and 69 % of the frame is model (base64's 4/3 and the
~90-byte envelope are the rest; doubling the chunk would only reach 72 %).

Slots: ``active`` (what the payload runs; "" = the shipped default) and ``previous``
(what ``model.rollback`` returns to). Validated models that are in neither slot are kept
(``staged``) until deleted or evicted (at most :data:`MAX_STORED_MODELS`).

Trial: a newly activated model is on trial until it has done :data:`TRIAL_JOBS_OK` jobs;
if :data:`TRIAL_FAILURES` jobs fail or the payload restarts :data:`TRIAL_RESTARTS`
times first, the store rolls back on its own (``model.rolled_back``, automatic). Deeper
trouble is the payload supervisor's ladder, which runs the last known good model by hash
(:mod:`flightsw.supervisor`); the store keeps that model's file, so the payload finds it.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass, field
from typing import Any

from flightsw.component import PERSIST, Component, Events, Handled, Tick
from flightsw.config import FlightConfig
from flightsw.dictionary import Arg, ArgType, Command, Declarations, Event, Severity, Telemetry
from flightsw.errors import FlightError
from flightsw.model_card import (
    MAX_SHAPE_TEXT,
    POWER_CLASSES,
    ModelCard,
    ModelCardError,
    parse_shape,
)

CHUNK_BYTES = 768
"""Raw model bytes per upload chunk (1024 base64 characters; see the module docstring)."""
CHUNK_B64_CHARS = 4 * math.ceil(CHUNK_BYTES / 3)
MAX_MODEL_BYTES = 4 * 1024 * 1024
"""4 MiB: ~58 min of a 9.6 kbit/s uplink, already many passes; bigger is refused."""
MAX_UPLOADS = 2
"""Uploads open at once (each one holds chunk files until it ends or is aborted)."""
MAX_STORED_MODELS = 4
TRIAL_JOBS_OK = 3
TRIAL_FAILURES = 2
TRIAL_RESTARTS = 2
FAULT_TARGETS = ("weights", "input", "stored_file")
SHIPPED = ""
"""The active slot's value when the payload runs the shipped default model."""


@dataclass
class StoredModel:
    """A model that passed verification: its card (declared at upload, held against
    what onnxruntime reported in the sandbox), size and the sandbox's report."""

    card: ModelCard = field(default_factory=ModelCard)
    size_bytes: int = 0
    verdict: str = ""  # the sandbox's report: load and dry-run times, peak memory

    @property
    def sha256(self) -> str:
        return self.card.sha256

    def label(self) -> str:
        return self.card.label()


@dataclass
class Upload:
    """An upload in progress; ``card`` is what the ground declared for the file."""

    upload_id: int = 0
    size_bytes: int = 0
    card: ModelCard = field(default_factory=ModelCard)
    received: list[int] = field(default_factory=list)  # sorted chunk indices
    verifying: bool = False  # upload_end accepted; the shell is checking it

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def sha256(self) -> str:
        return self.card.sha256

    @property
    def n_chunks(self) -> int:
        return max(1, math.ceil(self.size_bytes / CHUNK_BYTES))

    def chunk_len(self, index: int) -> int:
        return min(CHUNK_BYTES, self.size_bytes - index * CHUNK_BYTES)

    def missing(self) -> list[int]:
        have = set(self.received)
        return [i for i in range(self.n_chunks) if i not in have]


@dataclass(frozen=True)
class StoreOp:
    """A file operation for the shell. ``kind``: ``write_chunk`` (upload_id, index,
    data), ``verify`` (upload_id: assemble, hash, sandbox), ``drop_upload`` (upload_id),
    ``link_active`` (sha256, "" = shipped), ``delete`` (sha256), ``corrupt_file``
    (sha256, bits, seed), ``payload_fault`` (target, bits, seed), ``restart_payload``
    (reason)."""

    kind: str
    upload_id: int = 0
    index: int = 0
    data: bytes = b""
    sha256: str = ""
    bits: int = 0
    seed: int = 0
    target: str = ""
    reason: str = ""


@dataclass(frozen=True)
class FileResult:
    """What the shell reports back: an op failed, or a verification's verdict."""

    kind: str  # "chunk_failed", "chunks_lost", "verified", "rejected"
    upload_id: int = 0
    index: int = 0
    reason: str = ""
    model: StoredModel | None = None
    missing: tuple[int, ...] = ()  # chunks_lost: which


@dataclass
class Trial:
    """A newly activated model's probation; -1: baseline not taken yet."""

    sha256: str = ""
    jobs_done_at_start: int = -1  # when its first incarnation was seen ready
    jobs_failed_at_start: int = -1
    restarts_at_start: int = -1  # unplanned restarts, at activation
    incarnation_at_start: int = -1  # the payload incarnation running at activation


@dataclass
class ModelStoreState:
    models: dict[str, StoredModel] = field(default_factory=dict, metadata=PERSIST)
    active: str = field(default=SHIPPED, metadata=PERSIST)
    previous: str = field(default=SHIPPED, metadata=PERSIST)
    uploads: dict[int, Upload] = field(default_factory=dict, metadata=PERSIST)
    next_upload_id: int = field(default=1, metadata=PERSIST)
    trial: Trial | None = field(default=None, metadata=PERSIST)
    rejected: int = field(default=0, metadata=PERSIST)
    rollbacks: int = field(default=0, metadata=PERSIST)
    last_verdict: str = field(default="", metadata=PERSIST)
    fault_injection: bool = False  # from the config: test and HIL runs only
    pending: list[StoreOp] = field(default_factory=list)


def initial(cfg: FlightConfig) -> ModelStoreState:
    return ModelStoreState(fault_injection=cfg.fault_injection)


def take_ops(st: ModelStoreState) -> list[StoreOp]:
    ops, st.pending = st.pending, []
    return ops


# --- uploads -----------------------------------------------------------------------------
def _upload(st: ModelStoreState, upload_id: int) -> Upload:
    up = st.uploads.get(upload_id)
    if up is None:
        open_ids = sorted(st.uploads) or "none"
        raise FlightError(f"no upload {upload_id} (open: {open_ids})")
    return up


def _declared_card(args: dict[str, Any], sha: str) -> ModelCard:
    """The card the ground declares for an upload (checked again after the sandbox)."""
    try:
        card = ModelCard(name=str(args["name"]), version=str(args["version"]), sha256=sha,
                         input_name=str(args["input_name"]),
                         input_shape=parse_shape(str(args["input_shape"]), "input_shape"),
                         output_name=str(args["output_name"]),
                         output_shape=parse_shape(str(args["output_shape"]), "output_shape"),
                         power_class=str(args["power_class"]),
                         accuracy=float(args["accuracy"]))
        card.check("upload")
    except ModelCardError as exc:
        raise FlightError(f"model card: {exc}") from exc
    if not card.input_name or not card.output_name:
        raise FlightError("model card: input_name and output_name must not be empty")
    return card


def cmd_upload_begin(st: ModelStoreState, args: dict[str, Any],
                     t: Tick) -> Handled[ModelStoreState]:
    size = int(args["size_bytes"])
    sha = str(args["sha256"]).lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise FlightError("sha256 must be 64 hex digits")
    if not 0 < size <= MAX_MODEL_BYTES:
        raise FlightError(f"size_bytes {size} out of range 1..{MAX_MODEL_BYTES}")
    for up in st.uploads.values():
        if up.sha256 == sha:  # resuming after a lost answer: the same upload again
            return Handled(st, f"upload {up.upload_id} already open for {sha[:12]}: "
                               f"{len(up.received)}/{up.n_chunks} chunks")
    if sha in st.models:
        raise FlightError(f"model {st.models[sha].label()} is already stored")
    if len(st.uploads) >= MAX_UPLOADS:
        raise FlightError(f"{len(st.uploads)} uploads already open (most {MAX_UPLOADS}); "
                          "end or abort one")
    up = Upload(st.next_upload_id, size, _declared_card(args, sha))
    st.next_upload_id += 1
    st.uploads[up.upload_id] = up
    return Handled(st, f"upload {up.upload_id} open: {up.n_chunks} chunks of {CHUNK_BYTES} B",
                   [("model.upload_opened", {"upload_id": up.upload_id, "name": up.name,
                                             "n_chunks": up.n_chunks, "size_bytes": size})])


def cmd_upload_chunk(st: ModelStoreState, args: dict[str, Any],
                     t: Tick) -> Handled[ModelStoreState]:
    up = _upload(st, int(args["upload_id"]))
    if up.verifying:
        raise FlightError(f"upload {up.upload_id} is being verified; no more chunks")
    index = int(args["index"])
    if not 0 <= index < up.n_chunks:
        raise FlightError(f"chunk index {index} out of range 0..{up.n_chunks - 1}")
    try:
        data = base64.b64decode(str(args["data"]), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FlightError(f"chunk {index} is not base64: {exc}") from exc
    if len(data) != up.chunk_len(index):
        raise FlightError(f"chunk {index} has {len(data)} bytes, expected "
                          f"{up.chunk_len(index)}")
    if index in up.received:
        return Handled(st, f"chunk {index} already stored ({len(up.received)}/{up.n_chunks})")
    up.received = sorted([*up.received, index])
    st.pending.append(StoreOp("write_chunk", up.upload_id, index, data))
    return Handled(st, f"chunk {index} stored ({len(up.received)}/{up.n_chunks})")


def describe_missing(missing: list[int]) -> str:
    """``"0-3,7,9-10"``: the ranges a ground uploader parses back (:func:`parse_missing`)."""
    parts: list[str] = []
    start = prev = None
    for i in missing:
        if prev is not None and i == prev + 1:
            prev = i
            continue
        if start is not None:
            parts.append(f"{start}" if start == prev else f"{start}-{prev}")
        start = prev = i
    if start is not None:
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ",".join(parts)


def parse_missing(text: str) -> list[int]:
    out: list[int] = []
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def cmd_upload_status(st: ModelStoreState, args: dict[str, Any],
                      t: Tick) -> Handled[ModelStoreState]:
    up = _upload(st, int(args["upload_id"]))
    missing = up.missing()
    state = "verifying" if up.verifying else "open"
    return Handled(st, f"upload {up.upload_id} {state}: {len(up.received)}/{up.n_chunks} "
                       f"chunks; missing: {describe_missing(missing) or 'none'}")


def cmd_upload_end(st: ModelStoreState, args: dict[str, Any],
                   t: Tick) -> Handled[ModelStoreState]:
    up = _upload(st, int(args["upload_id"]))
    if up.verifying:
        return Handled(st, f"upload {up.upload_id} is already being verified")
    missing = up.missing()
    if missing:
        raise FlightError(f"upload {up.upload_id} incomplete: missing: "
                          f"{describe_missing(missing)}")
    up.verifying = True
    st.pending.append(StoreOp("verify", up.upload_id, sha256=up.sha256))
    return Handled(st, f"upload {up.upload_id} complete; verifying sha256 and sandbox")


def cmd_upload_abort(st: ModelStoreState, args: dict[str, Any],
                     t: Tick) -> Handled[ModelStoreState]:
    up = _upload(st, int(args["upload_id"]))
    if up.verifying:
        raise FlightError(f"upload {up.upload_id} is being verified; wait for the verdict")
    del st.uploads[up.upload_id]
    st.pending.append(StoreOp("drop_upload", up.upload_id))
    return Handled(st, f"upload {up.upload_id} aborted")


# --- what the shell reports ----------------------------------------------------------------
def on_file_result(st: ModelStoreState, res: FileResult) -> Events:
    events: Events = []
    up = st.uploads.get(res.upload_id)
    if res.kind == "chunk_failed":
        if up is not None and res.index in up.received:
            up.received.remove(res.index)
        events.append(("model.store_fault", {"what": f"chunk {res.index} of upload "
                                             f"{res.upload_id}", "reason": res.reason}))
    elif res.kind == "chunks_lost":
        if up is not None:
            up.received = [i for i in up.received if i not in res.missing]
            up.verifying = False  # upload_status lists them; upload_end again after
        events.append(("model.store_fault", {"what": f"upload {res.upload_id}",
                                             "reason": f"{res.reason}: "
                                             f"{describe_missing(list(res.missing))}; "
                                             "send them again"}))
    elif res.kind == "rejected":
        st.uploads.pop(res.upload_id, None)
        st.rejected += 1
        name = up.name if up is not None else "?"
        st.last_verdict = f"rejected {name}: {res.reason}"[:200]
        events.append(("model.rejected", {"upload_id": res.upload_id, "name": name,
                                          "reason": res.reason}))
    elif res.kind == "verified" and res.model is not None:
        st.uploads.pop(res.upload_id, None)
        model = res.model
        st.models[model.sha256] = model
        st.last_verdict = f"validated {model.label()}: {model.verdict}"[:200]
        events.append(("model.validated", {"upload_id": res.upload_id,
                                           "model": model.label(), "verdict": model.verdict,
                                           "card": model.card.to_json()}))
        events += _evict(st)
    return events


def _evict(st: ModelStoreState) -> Events:
    """Keep at most :data:`MAX_STORED_MODELS`: drop the oldest staged ones (never a slot)."""
    events: Events = []
    staged = [s for s in st.models if s not in (st.active, st.previous)]
    while len(st.models) > MAX_STORED_MODELS and staged:
        sha = staged.pop(0)
        model = st.models.pop(sha)
        st.pending.append(StoreOp("delete", sha256=sha))
        events.append(("model.deleted", {"model": model.label(), "why": "store full"}))
    return events


# --- slots ---------------------------------------------------------------------------------
def _find(st: ModelStoreState, ref: str) -> str:
    """A stored model's sha256 from a hash prefix (>= 8 digits) or ``name`` or
    ``name_vVERSION``; "shipped" names the default model."""
    ref = ref.strip()
    if ref in ("shipped", "default"):
        return SHIPPED
    hits = [s for s, m in st.models.items()
            if (len(ref) >= 8 and s.startswith(ref.lower())) or ref in (
                m.card.name, f"{m.card.name}_v{m.card.version}")]
    if not hits:
        raise FlightError(f"no stored model {ref!r} (stored: "
                          f"{', '.join(m.label() for m in st.models.values()) or 'none'})")
    if len(hits) > 1:
        raise FlightError(f"{ref!r} is ambiguous: "
                          f"{', '.join(st.models[s].label() for s in hits)}")
    return hits[0]


def _label(st: ModelStoreState, sha: str) -> str:
    return "shipped default" if sha == SHIPPED else st.models[sha].label()


def _switch(st: ModelStoreState, sha: str, why: str) -> None:
    st.previous, st.active = st.active, sha
    st.pending.append(StoreOp("link_active", sha256=sha))
    st.pending.append(StoreOp("restart_payload", reason=why))


def cmd_activate(st: ModelStoreState, args: dict[str, Any],
                 t: Tick) -> Handled[ModelStoreState]:
    sha = _find(st, str(args["model"]))
    if sha == st.active:
        return Handled(st, f"{_label(st, sha)} is already active")
    if any(up.verifying for up in st.uploads.values()):
        raise FlightError("a model is being verified; activate after its verdict")
    was = _label(st, st.active)
    _switch(st, sha, f"model activated: {_label(st, sha)}")
    st.trial = None if sha == SHIPPED else Trial(sha)
    return Handled(st, f"{_label(st, sha)} active (was {was}); payload restarting",
                   [("model.activated", {"model": _label(st, sha), "was": was})])


def cmd_rollback(st: ModelStoreState, args: dict[str, Any],
                 t: Tick) -> Handled[ModelStoreState]:
    if st.previous == st.active:
        raise FlightError("nothing to roll back to (previous slot is the active model)")
    note, events = _rollback(st, "ground command")
    return Handled(st, note, events)


def _rollback(st: ModelStoreState, why: str) -> tuple[str, Events]:
    bad, good = st.active, st.previous
    _switch(st, good, f"model rolled back ({why})")
    st.previous = bad
    st.trial = None
    st.rollbacks += 1
    note = f"rolled back from {_label(st, bad)} to {_label(st, good)}: {why}"
    return note, [("model.rolled_back", {"model": _label(st, good), "was": _label(st, bad),
                                         "why": why})]


def cmd_delete(st: ModelStoreState, args: dict[str, Any],
               t: Tick) -> Handled[ModelStoreState]:
    sha = _find(st, str(args["model"]))
    if sha == SHIPPED:
        raise FlightError("the shipped default model cannot be deleted")
    if sha == st.active:
        raise FlightError(f"{_label(st, sha)} is active; activate another model first")
    label = _label(st, sha)
    del st.models[sha]
    if st.previous == sha:
        st.previous = st.active  # no rollback target any more
    st.pending.append(StoreOp("delete", sha256=sha))
    return Handled(st, f"{label} deleted", [("model.deleted", {"model": label,
                                                               "why": "ground command"})])


def cmd_list(st: ModelStoreState, args: dict[str, Any], t: Tick) -> Handled[ModelStoreState]:
    rows = [f"active: {_label(st, st.active)}", f"previous: {_label(st, st.previous)}"]
    for m in st.models.values():
        slot = ("active" if m.sha256 == st.active else
                "previous" if m.sha256 == st.previous else "staged")
        rows.append(f"{m.card.describe()} [{slot}] {m.size_bytes} B")
    for up in st.uploads.values():
        rows.append(f"upload {up.upload_id} {up.name}: {len(up.received)}/{up.n_chunks}"
                    + (" verifying" if up.verifying else ""))
    return Handled(st, "; ".join(rows))


def cmd_inject_fault(st: ModelStoreState, args: dict[str, Any],
                     t: Tick) -> Handled[ModelStoreState]:
    if not st.fault_injection:
        raise FlightError("fault injection is allowed only in test or HIL mode "
                          "(flight config fault_injection = true)")
    target, bits, seed = str(args["target"]), int(args["bits"]), int(args["seed"])
    if target == "stored_file":
        if st.active == SHIPPED:
            raise FlightError("the shipped model is not in the store; activate a stored "
                              "model to corrupt its file")
        st.pending.append(StoreOp("corrupt_file", sha256=st.active, bits=bits, seed=seed))
    else:
        st.pending.append(StoreOp("payload_fault", target=target, bits=bits, seed=seed))
    return Handled(st, f"injecting {bits} bit flips into {target} (seed {seed})",
                   [("model.fault_injected", {"target": target, "bits": bits, "seed": seed})])


# --- the trial of a new model ------------------------------------------------------------------
@dataclass(frozen=True)
class PayloadView:
    """What the store watches of the payload: the executive's job books, the unplanned
    restarts in the supervisor's window, and which incarnation runs (a later one than at
    activation runs the new model: the activation restarts the payload)."""

    jobs_done: int
    jobs_failed: int
    unplanned_restarts: int
    incarnation: int
    ready: bool


def start_trial(st: ModelStoreState, view: PayloadView) -> None:
    """The shell restarts the payload onto the model on trial: what counts from now."""
    if st.trial is not None and st.trial.restarts_at_start < 0:
        st.trial.restarts_at_start = view.unplanned_restarts
        st.trial.incarnation_at_start = view.incarnation


def watch(st: ModelStoreState, view: PayloadView, t: Tick) -> Events:
    """1 Hz: judge the model on trial (see the module docstring)."""
    trial = st.trial
    if trial is None:
        return []
    if trial.sha256 != st.active:
        st.trial = None
        return []
    if trial.restarts_at_start < 0:  # the shell has not restarted the payload yet
        start_trial(st, view)
        return []
    if (trial.jobs_done_at_start < 0 and view.ready
            and view.incarnation > trial.incarnation_at_start):
        trial.jobs_done_at_start = view.jobs_done  # its jobs count from now
        trial.jobs_failed_at_start = view.jobs_failed
    running = trial.jobs_done_at_start >= 0
    done = view.jobs_done - trial.jobs_done_at_start if running else 0
    failed = view.jobs_failed - trial.jobs_failed_at_start if running else 0
    restarts = max(0, view.unplanned_restarts - trial.restarts_at_start)
    if failed >= TRIAL_FAILURES or restarts >= TRIAL_RESTARTS:
        why = (f"failed its first jobs ({failed} failed, {done} done)" if failed >= TRIAL_FAILURES
               else f"payload restarted {restarts} times on it")
        _, events = _rollback(st, f"automatic: {_label(st, trial.sha256)} {why}")
        return events
    if done >= TRIAL_JOBS_OK:
        st.trial = None
        return [("model.accepted", {"model": _label(st, trial.sha256), "jobs": done})]
    return []


def telemetry(st: ModelStoreState) -> dict[str, Any]:
    open_up = next(iter(st.uploads.values()), None)
    return {
        "model.active": _label(st, st.active),
        "model.previous": _label(st, st.previous),
        "model.stored": len(st.models),
        "model.on_trial": st.trial is not None,
        "model.upload_id": open_up.upload_id if open_up else 0,
        "model.upload_missing": len(open_up.missing()) if open_up else 0,
        "model.rejected": st.rejected,
        "model.rollbacks": st.rollbacks,
        "model.last_verdict": st.last_verdict,
    }


_MODEL_ARG = Arg("model", ArgType.STR, "stored model: sha256 prefix (>= 8), name, "
                 "name_vVERSION, or 'shipped'", max_len=80)
_UPLOAD_ID = Arg("upload_id", ArgType.INT, "from model.upload_begin", min=1)

DECLARATIONS = Declarations(
    component="model",
    commands=(
        Command("model.upload_begin", "Open a chunked model upload (ONNX, checked by SHA-256) "
                "with its model card (checked against the model in the sandbox).",
                args=(Arg("name", ArgType.STR, "model name", max_len=40),
                      Arg("version", ArgType.STR, "model version", max_len=16),
                      Arg("size_bytes", ArgType.INT, "file size", units="B", min=1,
                          max=MAX_MODEL_BYTES),
                      Arg("sha256", ArgType.STR, "file SHA-256, hex", max_len=64),
                      Arg("power_class", ArgType.ENUM, "from the model card",
                          choices=POWER_CLASSES),
                      Arg("accuracy", ArgType.FLOAT, "from the model card", min=0, max=1),
                      Arg("input_name", ArgType.STR, "card: the input tensor", max_len=64),
                      Arg("input_shape", ArgType.STR, "card: input shape, e.g. N,4,32,32",
                          max_len=MAX_SHAPE_TEXT),
                      Arg("output_name", ArgType.STR, "card: the output tensor", max_len=64),
                      Arg("output_shape", ArgType.STR, "card: output shape, e.g. N",
                          max_len=MAX_SHAPE_TEXT))),
        Command("model.upload_chunk", f"One chunk of an upload ({CHUNK_BYTES} B, base64).",
                args=(_UPLOAD_ID,
                      Arg("index", ArgType.INT, "chunk number from 0", min=0),
                      Arg("data", ArgType.STR, "base64 chunk bytes", max_len=CHUNK_B64_CHARS))),
        Command("model.upload_status", "Report an upload's missing chunks (the note).",
                args=(_UPLOAD_ID,)),
        Command("model.upload_end", "Finish an upload: verify SHA-256, validate in a sandbox.",
                args=(_UPLOAD_ID,)),
        Command("model.upload_abort", "Drop an open upload and its chunks.", args=(_UPLOAD_ID,)),
        Command("model.activate", "Run a stored, validated model (payload restarts).",
                args=(_MODEL_ARG,)),
        Command("model.rollback", "Swap back to the previous model."),
        Command("model.delete", "Delete a stored model that is not active (no undo: the "
                "previous slot is the rollback target).", args=(_MODEL_ARG,), hazardous=True),
        Command("model.list", "List stored models with their cards (the note)."),
        Command("model.inject_fault", "Test/HIL only: flip bits in the payload's weights, "
                "in a job's input, or in the active model's stored file.",
                args=(Arg("target", ArgType.ENUM, "where", choices=FAULT_TARGETS),
                      Arg("bits", ArgType.INT, "bits to flip", min=1, max=64),
                      Arg("seed", ArgType.INT, "which bits (seeded)", min=0)),
                hazardous=True),
    ),
    telemetry=(
        Telemetry("model.active", ArgType.STR, "Model in the active slot"),
        Telemetry("model.previous", ArgType.STR, "Model in the previous slot"),
        Telemetry("model.stored", ArgType.INT, "Validated models in the store"),
        Telemetry("model.on_trial", ArgType.BOOL, "The active model is on trial"),
        Telemetry("model.upload_id", ArgType.INT, "An open upload (0: none)"),
        Telemetry("model.upload_missing", ArgType.INT, "Chunks it still lacks"),
        Telemetry("model.rejected", ArgType.INT, "Uploads rejected by verification"),
        Telemetry("model.rollbacks", ArgType.INT, "Rollbacks, by command or automatic"),
        Telemetry("model.last_verdict", ArgType.STR, "Last verification verdict"),
    ),
    events=(
        Event("model.upload_opened", Severity.ACTIVITY_LO,
              "Upload {upload_id} of {name}: {n_chunks} chunks, {size_bytes} B"),
        Event("model.validated", Severity.ACTIVITY_HI,
              "Upload {upload_id} validated: {model} ({verdict})"),
        Event("model.rejected", Severity.WARNING_LO,
              "Upload {upload_id} ({name}) rejected: {reason}"),
        Event("model.activated", Severity.ACTIVITY_HI, "Model {model} activated (was {was})"),
        Event("model.accepted", Severity.ACTIVITY_LO,
              "Model {model} passed its trial ({jobs} jobs)"),
        Event("model.rolled_back", Severity.WARNING_HI,
              "Model rolled back to {model} from {was}: {why}"),
        Event("model.deleted", Severity.ACTIVITY_LO, "Model {model} deleted ({why})"),
        Event("model.store_fault", Severity.WARNING_HI, "Model store: {what}: {reason}",
              throttle=10),
        Event("model.fault_injected", Severity.WARNING_LO,
              "Fault injection: {bits} bit flips into {target} (seed {seed})"),
    ),
)

COMPONENT: Component[ModelStoreState] = Component(
    name="model_store", declare=lambda _cfg: (DECLARATIONS,), initial=initial,
    telemetry=telemetry,
    handlers={"model.upload_begin": cmd_upload_begin, "model.upload_chunk": cmd_upload_chunk,
              "model.upload_status": cmd_upload_status, "model.upload_end": cmd_upload_end,
              "model.upload_abort": cmd_upload_abort, "model.activate": cmd_activate,
              "model.rollback": cmd_rollback, "model.delete": cmd_delete,
              "model.list": cmd_list, "model.inject_fault": cmd_inject_fault})
