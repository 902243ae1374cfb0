"""The operator scripting API, shared by operators' scripts, the CLI and the e2e tests.

::

    from ground.api import Ops
    from ground.predicates import gt

    ops = Ops()                                    # the stack in the default run dir
    ops.cmd("exec.hk_period_set", period_s=2.0)    # waits for completed, raises on failed
    soc = ops.wait_tlm("power.battery_soc_pct", gt(50), timeout_s=30)
    evt = ops.wait_event("mode.changed", timeout_s=10, since=mark)

Commands go through the ground process (ops socket), so they are validated, queued
until AOS and verified like any other. Reads (``latest``, the waits) come straight from
the archive, read-only, row by row, so a wait sees every sample, not just the newest.
Every failure explains itself: what was awaited, for how long, and what was seen.
Timeouts are wall-clock seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flightsw.clock import RealClock
from flightsw.dictionary import Dictionary
from flightsw.errors import CommandRejected
from flightsw.stackinfo import StackInfo, default_run_dir
from ground import ops_token
from ground.archive_reader import ArchiveReader, EventRow, Mark, ProductRow, Sample
from ground.display import close_matches, duration_text, utc_text, value_text
from ground.errors import CommandFailed, GroundError, NoStack, WaitTimeout
from ground.ops_client import OpsClient
from ground.predicates import Predicate, anything, as_predicate
from ground.stack import archive_path, load_dictionary, read_stack

POLL_S = 0.05


@dataclass(frozen=True)
class Verification:
    """Where a command got to, as the ground's command log has it."""

    cmd_seq: int
    name: str
    args: dict[str, Any]
    stage: str  # queued, held, sent, received, accepted, started, completed, failed
    reason: str = ""
    failed_at: str = ""  # "ground" or "flight" when failed
    stage_times_s: dict[str, float] = field(default_factory=dict)
    onboard_time_s: float | None = None
    sends: int = 0  # times it went up (more than one after uplink retries)

    @property
    def finished(self) -> bool:
        return self.stage in ("completed", "failed")

    @property
    def ok(self) -> bool:
        return self.stage == "completed"

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Verification:
        return cls(cmd_seq=int(rec["cmd_seq"]), name=str(rec["name"]),
                   args=dict(rec.get("args") or {}), stage=str(rec["stage"]),
                   reason=str(rec.get("reason") or ""),
                   failed_at=str(rec.get("failed_at") or ""),
                   stage_times_s=dict(rec.get("stage_times_s") or {}),
                   onboard_time_s=rec.get("onboard_time_s"),
                   sends=int(rec.get("sends") or 0))

    def __str__(self) -> str:
        where = f" at the {self.failed_at}" if self.failed_at else ""
        why = f": {self.reason}" if self.reason else ""
        return f"command #{self.cmd_seq} {self.name} {self.stage}{where}{why}"


class Ops:
    """A handle on one running stack: command it, read its telemetry, wait on it."""

    def __init__(self, run_dir: Path | str | None = None, *, info: StackInfo | None = None,
                 request_timeout_s: float = 5.0, clock: RealClock | None = None) -> None:
        self.info = info or read_stack(run_dir if run_dir is not None else default_run_dir())
        self.client = OpsClient(self.info.ops, timeout_s=request_timeout_s,
                                token=self._token)
        self.archive_path = archive_path(self.info)
        self.clock = clock or RealClock()
        self._dictionary: Dictionary | None = None
        self._reader: ArchiveReader | None = None

    def _token(self) -> str | None:
        """The ground's ops token, read afresh (a restarted ground makes a new one)."""
        return ops_token.read(self.info.run_dir) if self.info.run_dir else None

    @classmethod
    def from_info(cls, info: StackInfo, **kwargs: Any) -> Ops:
        return cls(info=info, **kwargs)

    @property
    def dictionary(self) -> Dictionary:
        if self._dictionary is None:
            self._dictionary = load_dictionary(self.info.dictionary or None)
        return self._dictionary

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __enter__(self) -> Ops:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- commanding -----------------------------------------------------------------
    def submit(self, name: str, args: Mapping[str, Any] | None = None, *,
               at_s: float | None = None, confirm: bool = False) -> Verification:
        """Queue a command without waiting; raises CommandRejected if refused. ``at_s``:
        run it onboard at this mission time (UTC s), stored there until then;
        ``confirm``: the operator confirms a hazardous command (refused without)."""
        request: dict[str, Any] = {"op": "cmd", "name": name, "args": dict(args or {})}
        if at_s is not None:
            request["at_s"] = at_s
        if confirm:
            request["confirm"] = True
        reply = self.client.request(request)
        if not reply["ok"]:
            details = {k: v for k, v in reply.items() if k not in ("ok", "error")}
            raise CommandRejected(str(reply.get("error", "refused")), **details)
        return Verification.from_record(reply["command"])

    def verification(self, cmd_seq: int) -> Verification:
        return Verification.from_record(self.client.call("cmd_status", cmd_seq=cmd_seq)
                                        ["command"])

    def wait_verification(self, cmd_seq: int, timeout_s: float = 30.0,
                          on_stage: Callable[[Verification], None] | None = None
                          ) -> Verification:
        """Poll until the command finishes; ``on_stage`` sees each new stage once.

        Raises :class:`WaitTimeout` naming the stage reached if time runs out.
        """
        deadline = self.clock.monotonic_s() + timeout_s
        seen: set[str] = set()
        while True:
            ver = self.verification(cmd_seq)
            if on_stage is not None:
                for stage in _stages_in_order(ver):
                    if stage not in seen:
                        seen.add(stage)
                        on_stage(_at_stage(ver, stage))
            if ver.finished:
                return ver
            if self.clock.monotonic_s() >= deadline:
                hint = f" (ground: {self._uplink_state()})" if ver.stage == "queued" else ""
                raise WaitTimeout(f"{ver} after {duration_text(timeout_s)}; no final "
                                  f"verification yet{hint}", cmd_seq=cmd_seq,
                                  stage=ver.stage)
            self.clock.sleep_s(POLL_S)

    def _uplink_state(self) -> str:
        try:
            return str(self.client.call("status").get("uplink", "?"))
        except GroundError as exc:
            return str(exc)

    def cmd(self, name: str, /, *, check: bool = True, timeout_s: float = 30.0,
            confirm: bool = False, **args: Any) -> Verification:
        """Send a command and wait for ``completed`` or ``failed``.

        Raises :class:`CommandFailed` on ``failed`` unless ``check=False``; use
        :meth:`cmd_args` if an argument is named ``check``, ``timeout_s`` or ``confirm``.
        """
        return self.cmd_args(name, args, check=check, timeout_s=timeout_s, confirm=confirm)

    def cmd_args(self, name: str, args: Mapping[str, Any], *, check: bool = True,
                 timeout_s: float = 30.0, confirm: bool = False) -> Verification:
        ver = self.wait_verification(self.submit(name, args, confirm=confirm).cmd_seq,
                                     timeout_s)
        if check and not ver.ok:
            raise CommandFailed(str(ver), cmd_seq=ver.cmd_seq, failed_at=ver.failed_at)
        return ver

    def cancel(self, cmd_seq: int) -> Verification:
        return Verification.from_record(self.client.call("cancel", cmd_seq=cmd_seq)
                                        ["command"])

    def hold(self, cmd_seq: int) -> Verification:
        """Keep a queued command at the ground until :meth:`release`."""
        return Verification.from_record(self.client.call("hold", cmd_seq=cmd_seq)
                                        ["command"])

    def release(self, cmd_seq: int) -> Verification:
        return Verification.from_record(self.client.call("release", cmd_seq=cmd_seq)
                                        ["command"])

    def queue(self) -> dict[str, list[Verification]]:
        """Commands at the ground (``queued``, ``held``) and on their way (``in_flight``)."""
        reply = self.client.call("queue")
        return {k: [Verification.from_record(r) for r in reply[k]]
                for k in ("queued", "held", "in_flight")}

    def rotate_key(self) -> Verification:
        """Start an uplink key rotation (the ground switches once the flight confirms)."""
        return Verification.from_record(self.client.call("rotate_key")["command"])

    def status(self) -> dict[str, Any]:
        return self.client.call("status")

    def stats(self) -> dict[str, Any]:
        return self.client.call("stats")

    def stop(self) -> None:
        """Ask the ground process to exit cleanly."""
        self.client.call("stop")

    # --- reading --------------------------------------------------------------------
    def reader(self) -> ArchiveReader:
        """The read-only archive (opened on first use: it appears when the ground runs)."""
        if self._reader is None:
            self._reader = ArchiveReader(self.archive_path)
        return self._reader

    def latest(self, point: str) -> Sample | None:
        self.check_point(point)
        return self.reader().latest(point)

    def mark(self) -> Mark:
        """The archive's end now: pass as ``since=`` to wait only for newer records."""
        return self.reader().mark()

    def check_point(self, point: str) -> None:
        """Refuse a point the dictionary does not declare, with the closest names."""
        names = self.dictionary.telemetry
        if point not in names:
            raise GroundError("unknown telemetry point", point=point,
                              **close_matches(point, list(names)))

    def wait_tlm(self, point: str, predicate: Any = None, timeout_s: float = 10.0, *,
                 since: Mark | str = "latest") -> Any:
        """Wait until a sample of ``point`` satisfies ``predicate``; return its value.

        ``since="latest"`` also accepts the newest sample already archived; ``"now"``
        only newer ones; a :class:`Mark` only samples after it.
        """
        self.check_point(point)
        pred = anything() if predicate is None else as_predicate(predicate)
        what = f"wait_tlm({point!r}, {pred})"
        after_id = self._start_id(since, "telemetry", point)
        seen, last = 0, None
        deadline = self.clock.monotonic_s() + timeout_s
        while True:
            for sample in self._new_samples(point, after_id):
                seen, last, after_id = seen + 1, sample, sample.id
                if pred(sample.value):
                    return sample.value
            if self.clock.monotonic_s() >= deadline:
                raise WaitTimeout(_tlm_timeout(what, timeout_s, last, seen), point=point,
                                  samples_seen=seen)
            self.clock.sleep_s(POLL_S)

    def never(self, point: str, predicate: Any, during_s: float) -> int:
        """Watch ``point`` for ``during_s``; raise if any new sample satisfies ``predicate``.

        Returns the number of samples watched (zero samples is not a pass: it raises).
        """
        self.check_point(point)
        pred = as_predicate(predicate)
        after_id = self._start_id("now", "telemetry", point)
        seen = 0
        deadline = self.clock.monotonic_s() + during_s
        while self.clock.monotonic_s() < deadline:
            for sample in self._new_samples(point, after_id):
                seen, after_id = seen + 1, sample.id
                if pred(sample.value):
                    raise GroundError(
                        f"never({point!r}, {pred}) violated: value "
                        f"{value_text(sample.value)} at t={utc_text(sample.time_s)} "
                        f"(sample {seen} of the watch)", point=point)
            self.clock.sleep_s(POLL_S)
        if seen == 0:
            raise WaitTimeout(f"never({point!r}, {pred}) saw no samples in "
                              f"{duration_text(during_s)}: nothing was proven", point=point)
        return seen

    def wait_event(self, match: str | Callable[[EventRow], bool], timeout_s: float = 10.0,
                   *, since: Mark | str = "now") -> EventRow:
        """Wait for an event by name, or one that satisfies ``match(event_row)``."""
        if isinstance(match, str):
            if match not in self.dictionary.events:
                raise GroundError("unknown event", event=match,
                                  **close_matches(match, list(self.dictionary.events)))
            name = match
            pred: Predicate = Predicate(lambda e: e.name == name, repr(name))
        else:
            pred = as_predicate(match)
        what = f"wait_event({pred})"
        after_id = self._start_id(since, "events")
        seen: list[str] = []
        deadline = self.clock.monotonic_s() + timeout_s
        while True:
            rows = list(self.reader().events_after(after_id)) if self._archive_ready() else []
            for row in rows:
                after_id = row.id
                if pred(row):
                    return row
                seen.append(row.name)
            if self.clock.monotonic_s() >= deadline:
                tail = f"; last: {', '.join(seen[-5:])}" if seen else ""
                raise WaitTimeout(f"{what} timed out after {duration_text(timeout_s)}; "
                                  f"{len(seen)} other events seen{tail}")
            self.clock.sleep_s(POLL_S)

    def wait_result(self, timeout_s: float = 30.0, *,
                    since: Mark | str = "now") -> ProductRow:
        """Wait for the next payload data product (RESULT) to reach the archive."""
        after_id = self._start_id(since, "products")
        deadline = self.clock.monotonic_s() + timeout_s
        while True:
            rows = self.reader().products_after(after_id) if self._archive_ready() else []
            if rows:
                return rows[0]
            if self.clock.monotonic_s() >= deadline:
                raise WaitTimeout(f"wait_result() timed out after {duration_text(timeout_s)}"
                                  "; no data product arrived")
            self.clock.sleep_s(POLL_S)

    # --- helpers --------------------------------------------------------------------
    def _archive_ready(self) -> bool:
        if self._reader is not None:
            return True
        try:
            self.reader()
        except NoStack:
            return False
        return True

    def _new_samples(self, point: str, after_id: int) -> list[Sample]:
        return self.reader().samples(point, after_id) if self._archive_ready() else []

    def _start_id(self, since: Mark | str | None, table: str, point: str = "") -> int:
        """The row id after which a wait looks, from a mark or "now"/"latest"."""
        if isinstance(since, Mark):
            return {"telemetry": since.telemetry_id, "events": since.events_id,
                    "products": since.products_id}[table]
        allowed = ("now", "latest") if point else ("now",)
        if since not in allowed:
            raise GroundError("since must be a Mark or one of the words", got=repr(since),
                              valid=list(allowed))
        if not self._archive_ready():
            return 0
        if since == "latest":
            sample = self.reader().latest(point)
            return sample.id - 1 if sample else 0
        m = self.reader().mark()
        return {"telemetry": m.telemetry_id, "events": m.events_id,
                "products": m.products_id}[table]


def _stages_in_order(ver: Verification) -> list[str]:
    order = ["queued", "held", "sent", "received", "accepted", "started", "completed",
             "failed"]
    return [s for s in order if s in ver.stage_times_s]


def _at_stage(ver: Verification, stage: str) -> Verification:
    """The verification as it stood at ``stage`` (the reason belongs to the last one)."""
    reason = ver.reason if stage == ver.stage else ""
    return Verification(ver.cmd_seq, ver.name, ver.args, stage, reason,
                        ver.failed_at if stage == "failed" else "", ver.stage_times_s,
                        ver.onboard_time_s)


def _tlm_timeout(what: str, timeout_s: float, last: Sample | None, seen: int) -> str:
    head = f"{what} timed out after {duration_text(timeout_s)}"
    if last is None:
        return f"{head}; no samples seen"
    return (f"{head}; last value {value_text(last.value)} at t={utc_text(last.time_s)} "
            f"(onboard), {seen} samples seen")
