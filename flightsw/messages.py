"""The body of every message on every stream, as a typed record (see
:mod:`flightsw.records`). The flight software owns these; the plant, the payload and the
ground build against them, so each body has exactly one encoder and one decoder.

==========================  =================  ======================================
stream                      kind               body
==========================  =================  ======================================
plant bus, plant -> flight  ``TICK``           :class:`TickBody` (lockstep)
plant bus, plant -> flight  ``SENSORS``        :class:`SensorsBody` (free running)
plant bus, flight -> plant  ``ACTUATORS``      :class:`ActuatorsBody`
payload IPC, exec -> child  ``PAYLOAD_JOB``    :class:`JobBody`
payload IPC, exec -> child  ``PAYLOAD_CONFIG`` :class:`ConfigBody`
payload IPC, exec -> child  ``PAYLOAD_PING``   :class:`PingBody`
payload IPC, exec -> child  ``PAYLOAD_FAULT``  :class:`FaultBody` (test/HIL only)
payload IPC, exec -> child  ``PAYLOAD_CANCEL`` :class:`CancelBody`
payload IPC, child -> exec  ``PAYLOAD_HEARTBEAT`` :class:`HeartbeatBody`
payload IPC, child -> exec  ``PAYLOAD_RESULT`` :class:`ResultBody`
space link, ground -> flt   ``COMMAND``        :class:`CommandBody`
space link, both ways       ``HELLO``          :class:`HelloBody`
space link, ground -> flt   ``ACK``            :class:`AckBody`
space link, flight -> gnd   ``TELEMETRY``      :class:`TelemetryBody`
space link, flight -> gnd   ``EVENT``          :class:`EventBody`
space link, flight -> gnd   ``VERIFICATION``   :class:`VerificationBody`
space link, flight -> gnd   ``RESULT``         :class:`ProductBody`
any                         ``STOP``           :class:`StopBody`
==========================  =================  ======================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flightsw.errors import WireError, safe_repr
from flightsw.hal import Actuators, Sensors
from flightsw.records import Record

_MAX_SEQ = (1 << 63) - 1

# --- plant bus ---------------------------------------------------------------------------


@dataclass
class TickBody(Record):
    """Lockstep: the plant's time since the scenario began, and one sensor sample."""

    REQUIRED = ("elapsed_s",)
    elapsed_s: float = 0.0
    dt_s: float = 1.0
    sensors: Sensors = field(default_factory=Sensors)


@dataclass
class SensorsBody(Record):
    sensors: Sensors = field(default_factory=Sensors)


@dataclass
class ActuatorsBody(Record):
    actuators: Actuators = field(default_factory=Actuators)


@dataclass
class StopBody(Record):
    reason: str = ""


# --- payload IPC -------------------------------------------------------------------------


@dataclass
class JobBody(Record):
    REQUIRED = ("job_id", "n_tiles", "seed", "lat_deg", "lon_deg")
    job_id: int = 0
    n_tiles: int = 0
    seed: int = 0
    lat_deg: float = 0.0
    lon_deg: float = 0.0
    # operator jobs (flightsw.jobs): absent for routine captures
    priority: int = 0  # > 0: the child runs it before its routine work
    source: str = "capture"  # "capture" or "tensor" (uploaded, flightsw.job_tensor)
    tensor: bytes = b""  # zlib of the raw tensor
    tensor_shape: list[int] = field(default_factory=list)
    tensor_dtype: str = ""
    detail: bool = False  # answer with per-tile results and the input's hash
    tiles: bool = False  # and with the selected tiles, compressed
    critical: bool = False  # run twice and compare (flightsw.jobs.URGENT_PRIORITY)


@dataclass
class ConfigBody(Record):
    REQUIRED = ("throttle_frac", "pace")
    throttle_frac: float = 1.0
    pace: bool = False
    intra_op_threads: int = 0  # onnxruntime intra-op threads; 0: leave as is


@dataclass
class CancelBody(Record):
    """Cancel a job: queued, it ends at once; running, its inference is interrupted. The
    payload answers with its result, ``cancelled`` set."""

    REQUIRED = ("job_id",)
    job_id: int = 0
    reason: str = ""


@dataclass
class PingBody(Record):
    REQUIRED = ("n",)
    n: int = 0


@dataclass
class HeartbeatBody(Record):
    """The payload's answer to a ping. Its counters are the child's own view (since its
    start); the executive's job books are the ones that count."""

    n: int = 0  # the ping this answers (0: unsolicited, e.g. the ready heartbeat)
    state: str = ""  # "ready", "idle", "busy"
    jobs_done: int = 0
    jobs_failed: int = 0
    tiles_done: int = 0
    busy_frac: float = 0.0
    throttle_frac: float = 0.0
    pace: bool = False
    queue_depth: int = 0
    model: str = ""
    model_sha256: str = ""
    provider: str = ""
    rss_mb: float = 0.0
    pid: int = 0
    incarnation: int = 0
    rejected_frames: int = 0
    current_job: int | None = None
    current_job_started_s: float | None = None  # mission time
    current_job_busy_s: float | None = None  # wall seconds it has run so far
    provider_fallback: str = ""  # why the payload runs on CPU though it asked for more
    weight_scrubs: int = 0  # scrubs of the in-memory weights (payload.scrubbing)
    weight_repairs: int = 0  # weight tensors found corrupted and reloaded from the store
    integrity_suspect: int = 0  # jobs whose integrity verdict was "suspect"
    integrity_failed: int = 0  # ... and "failed"
    intra_op_threads: int = 0  # the session's onnxruntime intra-op threads (0: unknown)


@dataclass
class FaultBody(Record):
    """Fault injection (test/HIL): flip ``bits`` seeded bits in ``target`` ("weights" or
    "input" of the next job). Allowed by the model store's ``model.inject_fault``."""

    REQUIRED = ("target", "bits")
    target: str = ""
    bits: int = 0
    seed: int = 0


@dataclass
class ResultBody(Record):
    REQUIRED = ("job_id",)
    job_id: int = 0
    ok: bool = False
    error: str = ""
    n_tiles: int = 0
    n_cloudy: int = 0
    n_clear: int = 0
    selected: list[Any] = field(default_factory=list)
    n_correct: int = 0
    infer_ms: float = 0.0
    model: str = ""
    integrity: str = ""  # verified / suspect / failed (payload.integrity)
    integrity_note: str = ""
    # an operator job's detail (JobBody.detail / .tiles); see flightsw.job_products
    job_ms: float = 0.0  # the whole job in the child (capture or decode + inference)
    probs: list[float] = field(default_factory=list)  # per tile
    cloudy: list[bool] = field(default_factory=list)
    truth: list[bool] = field(default_factory=list)  # the camera's labels (captures)
    tiles_z: list[Any] = field(default_factory=list)  # bytes per selected tile
    all_tiles_z_bytes: int = 0  # every tile compressed the same way
    input_sha256: str = ""
    model_sha256: str = ""
    cancelled: bool = False  # ended by a cancel (CancelBody), not by a failure


# --- space link --------------------------------------------------------------------------


@dataclass
class CommandBody(Record):
    REQUIRED = ("name",)
    name: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    at_s: float | None = None  # run at this mission time (UTC s); None: now


@dataclass
class HelloBody(Record):
    dictionary_hash: str = ""
    dictionary_version: str = ""
    boot_mission_time_s: float = 0.0
    boot_id: int = 0  # the executive's boot count (persisted): which incarnation is talking
    first_seq: int = 0  # the first downlink number this boot made
    seq_continued: bool = False  # numbering went on from the last boot (else it restarted)
    uplink_seq_top: int = -1
    """The highest command number taken from the ground (-1: none): a ground whose own
    numbering is behind (a new archive) numbers its commands above it."""


MAX_ACK_RANGES = 32
"""An acknowledgement names at most this many ranges (it must fit a slow uplink)."""


@dataclass
class AckBody(Record):
    """The ground holds every downlink number in each half-open ``[start, end)`` range.

    The ranges are consecutive in the ground's books: every hole between two of them is
    a number the ground does not have (its re-request); numbers outside the first and
    last range are not spoken of. With few holes the first range is the cumulative part
    (from the oldest number the ground accounts for), the others selective.
    ``boot_id`` is the executive boot the ground believes it talks to: an
    acknowledgement meant for another boot's numbering is not applied."""

    REQUIRED = ("boot_id", "ranges")
    boot_id: int = 0
    ranges: list[list[int]] = field(default_factory=list)

    def spans(self) -> list[tuple[int, int]]:
        """The ranges checked: pairs of integers, start < end, at most
        :data:`MAX_ACK_RANGES`; raises WireError otherwise."""
        if len(self.ranges) > MAX_ACK_RANGES:
            raise WireError("AckBody.ranges has too many ranges", got=len(self.ranges),
                            limit=MAX_ACK_RANGES)
        out: list[tuple[int, int]] = []
        for r in self.ranges:
            if (not isinstance(r, list) or len(r) != 2
                    or not all(isinstance(v, int) and not isinstance(v, bool) for v in r)
                    or not 0 <= r[0] < r[1] <= _MAX_SEQ + 1):
                raise WireError("AckBody.ranges must be [start, end) pairs of sequence "
                                "numbers", got=safe_repr(r))
            out.append((r[0], r[1]))
        return out


@dataclass
class TelemetryBody(Record):
    points: dict[str, Any] = field(default_factory=dict)


@dataclass
class EventBody(Record):
    name: str = ""
    severity: str = ""
    text: str = ""
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class VerificationBody(Record):
    cmd_seq: int = 0
    name: str = ""
    stage: str = ""  # "received", "accepted", "started", "completed", "failed"
    reason: str = ""
    source: str = "ground"
    """Whose command: numbers count per source (a stored sequence's steps are ``seq``),
    so the ground matches a report to its own command only when the source is its own."""


@dataclass
class ProductBody(Record):
    """One data product: the job results gathered over one capture window."""

    jobs: int = 0
    failed: int = 0
    tiles: int = 0
    cloudy: int = 0
    clear: int = 0
    selected: int = 0
    correct: int = 0
    infer_ms_mean: float = 0.0
    job_ids: list[int] = field(default_factory=list)
