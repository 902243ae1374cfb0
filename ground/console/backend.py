"""Everything the console reads or sends, behind one small interface.

Why one module: the ground's ops API (live state and commanding, msgpack over ZeroMQ)
and its archive (history, read-only SQLite) both change under other work - an ops token
and a ``confirm`` field on commands, an archive with one row per record and its own
query module. The server and the page only see the plain dictionaries returned here,
so those changes are made here and nowhere else.

Every method returns plain JSON-able data or raises :class:`BackendDown` (no ground,
no archive yet: the page says so and keeps polling) or
:class:`flightsw.errors.CommandRejected` (a command refused, with the reason and the
valid choices). Blocking I/O (a ZeroMQ request with a timeout, SQLite reads); the
server calls it from worker threads.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from flightsw.dictionary import Dictionary
from flightsw.errors import CommandRejected, safe_repr
from flightsw.stackinfo import StackInfo
from ground import png, tile_products
from ground.archive_reader import SEVERITY_ORDER, ArchiveReader
from ground.console import series as series_mod
from ground.console.access import read_token
from ground.console.alarms import ALARMS_FILE, AlarmBook
from ground.console.passes import Window, contact_windows
from ground.errors import GroundError, NoStack, OpsError
from ground.ops_client import OpsClient
from ground.stack import ARCHIVE_FILE, archive_path, load_dictionary, read_stack

OVERVIEW_POINTS = (
    "mode.current", "power.battery_soc_pct", "power.battery_voltage_v",
    "power.battery_current_a", "power.array_power_w", "power.load_power_w",
    "power.sun_fraction", "power.next_eclipse_in_s", "power.battery_temp_c",
    "thermal.payload_temp_c", "thermal.avionics_temp_c", "thermal.radiator_temp_c",
    "payload.state", "payload.activity_pct", "payload.model", "payload.jobs_done",
    "payload.tiles_done", "payload.jobs_in_flight", "throttle.level_pct", "throttle.zone",
    "link.recorder_depth", "schedule.entries", "limits.tripped_now",
)
STALE_MIN_S = 10.0
STALE_PERIODS = 5.0
"""A sample is stale once the spacecraft clock is more than this many housekeeping
periods (and at least :data:`STALE_MIN_S`) past it."""
SERIES_MAX_ROWS = 500_000
"""Most archived samples one plot reads (a day at 1 Hz is 86,400)."""
SERIES_CACHED_POINTS = 8
"""Points whose samples stay in memory between plot refreshes."""
EVENT_LIMIT_MAX = 1000
KEEP_COMMANDS = 50
JOB_PRODUCTS = ("job", "tiles")
"""Products of operator jobs (:mod:`flightsw.job_products`), shown by job with tiles."""
TILE_BANDS = ("rgb", "swir")
QUEUE_ACTIONS = ("cancel", "hold", "release")
"""What an operator may do to a command still waiting at the ground (ops of those names)."""
STOPPED_RUN_DICTIONARY = "dictionary.json"
"""The exported dictionary the launcher leaves in a run directory."""


class BackendDown(GroundError):
    """The ground (or its archive) cannot be reached now; the reason says which."""


class ConsoleBackend:
    """The console's view of one run directory's ground."""

    def __init__(self, run_dir: Path | str, ops_timeout_s: float = 2.0) -> None:
        self.run_dir = Path(run_dir)
        self.ops_timeout_s = ops_timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._dictionary: tuple[str, Dictionary] | None = None
        self._commands: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._schedule_note: dict[str, Any] | None = None
        self._contacts: dict[str, list[tuple[float, Any]]] = {"link.in_contact": [],
                                                              "link.station": []}
        self._contact_cursor: dict[str, int] = {}
        self._contacts_archive: str = ""
        self._series_cache: OrderedDict[str, tuple[str, list[tuple[int, float, Any]]]] = \
            OrderedDict()
        self.alarms = self._load_alarms()

    # --- plumbing -------------------------------------------------------------------
    def info(self) -> StackInfo:
        """The running stack, or a stopped run (its archive and dictionary, no ops)."""
        try:
            return read_stack(self.run_dir)
        except NoStack as exc:
            archive = self.run_dir / ARCHIVE_FILE
            if not archive.exists():
                raise BackendDown(f"{exc.reason}; no archive of a stopped run either",
                                  **exc.details) from exc
            dictionary = self.run_dir / STOPPED_RUN_DICTIONARY
            return StackInfo(run_dir=str(self.run_dir), archive=str(archive),
                             dictionary=str(dictionary) if dictionary.exists() else "")

    def token(self) -> str | None:
        return read_token(self.run_dir)

    def _ops(self, op: str, **fields: Any) -> dict[str, Any]:
        """One ops request; a refusal comes back as data (``ok`` false)."""
        request: dict[str, Any] = {"op": op, **fields}
        info = self.info()
        if not info.ops:
            raise BackendDown("no ground running: showing the stopped run's archive",
                              run_dir=str(self.run_dir))
        try:
            return OpsClient(info.ops, timeout_s=self.ops_timeout_s,
                             token=self.token).request(request)
        except (NoStack, OpsError) as exc:
            raise BackendDown(exc.reason, **exc.details) from exc

    def reader(self) -> ArchiveReader:
        """This thread's read-only archive connection (reopened when the run changes)."""
        path = archive_path(self.info())
        try:
            key = f"{path}:{path.stat().st_ino}"
        except OSError as exc:
            raise BackendDown("no ground archive yet (is the ground running?)",
                              looked_in=str(path)) from exc
        cached = getattr(self._local, "reader", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        if cached is not None:
            cached[1].close()
        try:
            reader = ArchiveReader(path)
        except NoStack as exc:
            raise BackendDown(exc.reason, **exc.details) from exc
        self._local.reader = (key, reader)
        return reader

    def dictionary(self) -> Dictionary:
        """The dictionary the ground works from (the stack's exported one)."""
        try:
            source = self.info().dictionary or ""
        except BackendDown:
            source = ""
        if self._dictionary is None or self._dictionary[0] != source:
            self._dictionary = (source, load_dictionary(source or None))
        return self._dictionary[1]

    # --- live state -----------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        reply = self._ops("status")
        if not reply.get("ok"):
            raise BackendDown(str(reply.get("error", "status refused")))
        return reply

    def telemetry(self, now_s: float | None = None) -> dict[str, Any]:
        """Every dictionary point's latest value with its limit colour and staleness."""
        reader = self.reader()
        now = now_s if now_s is not None else reader.mission_now_s()
        period = reader.housekeeping_period_s() or 1.0
        stale_after = max(STALE_MIN_S, STALE_PERIODS * period)
        latest = reader.latest_all()
        rows = []
        for name, tlm in sorted(self.dictionary().telemetry.items()):
            sample = latest.get(name)
            value = None if sample is None else sample.value
            state = "none"
            if sample is not None:
                number = series_mod.numeric(value)
                state = (tlm.limits.classify(number) if tlm.limits is not None
                         and number is not None else "ok")
                if tlm.limits is not None and value is None:
                    state = "red"  # no reading on a limited point
            age = None if sample is None or now is None else now - sample.time_s
            rows.append({"name": name, "value": _plain(value), "units": tlm.units,
                         "type": tlm.type.value, "description": tlm.description,
                         "limits": tlm.limits.to_json() if tlm.limits else None,
                         "state": state, "time_s": None if sample is None else sample.time_s,
                         "age_s": age, "stale": age is None or age > stale_after})
        return {"now_s": now, "stale_after_s": stale_after, "points": rows}

    def state(self) -> dict[str, Any]:
        """One poll's worth: link and spacecraft status, overview values, alarms."""
        out: dict[str, Any] = {"ground": None, "ground_error": None, "archive_error": None}
        now_s: float | None = None
        try:
            status = self.status()
            link = status.get("link") or {}
            now_s = link.get("spacecraft_time_utc_s")
            out["ground"] = {
                "in_contact": link.get("in_contact"), "station": link.get("station"),
                "elevation_deg": link.get("elevation_deg"),
                "next_pass": link.get("next_pass"), "spacecraft_time_s": now_s,
                "uplink": status.get("uplink"), "dictionary": status.get("dictionary"),
                "queue": status.get("queue", []), "in_flight": status.get("in_flight", []),
                "counts": status.get("counts", {}), "last_rx_s": status.get("last_rx_s"),
                "last_onboard_time_s": status.get("last_onboard_time_s")}
        except BackendDown as exc:
            out["ground_error"] = exc.reason
        try:
            table = self.telemetry(now_s)
            out["now_s"] = table["now_s"]
            out["overview"] = {p["name"]: p for p in table["points"]
                               if p["name"] in OVERVIEW_POINTS}
            self._update_alarms(table["points"])
        except BackendDown as exc:
            out["archive_error"] = exc.reason
            out["overview"] = {}
        out["alarms"] = [a for a in self.alarms.to_json()["alarms"]]
        out["unacknowledged"] = len(self.alarms.unacknowledged())
        return out

    # --- alarms ---------------------------------------------------------------------
    def _load_alarms(self) -> AlarmBook:
        path = self.run_dir / ALARMS_FILE
        try:
            return AlarmBook.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            return AlarmBook()
        except (OSError, ValueError) as exc:
            # a damaged book must not stop the console: keep it aside, start afresh
            os.replace(path, path.with_suffix(".damaged"))
            book = AlarmBook()
            book.observe_event(0, "console.alarm_book_damaged", "WARNING_HI",
                               f"alarm book unreadable, kept as .damaged: {exc}", time.time())
            return book

    def _save_alarms(self) -> None:
        path = self.run_dir / ALARMS_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.alarms.to_json()))
        os.replace(tmp, path)

    def _update_alarms(self, points: list[dict[str, Any]]) -> None:
        reader = self.reader()
        with self._lock:
            before = json.dumps(self.alarms.to_json())
            if self.alarms.events_cursor > reader.mark().events_id:
                self.alarms.events_cursor = 0  # a new run: its archive starts again
            for ev in reader.events_after(self.alarms.events_cursor):
                self.alarms.observe_event(ev.id, ev.name, ev.severity, ev.text, ev.time_s)
            for p in points:
                if p["limits"] is not None and p["time_s"] is not None:
                    self.alarms.observe_limit(
                        p["name"], p["state"],
                        f"{p['name']} = {p['value']} {p['units']}".strip(), p["time_s"])
            if json.dumps(self.alarms.to_json()) != before:
                self._save_alarms()

    def acknowledge(self, alarm_id: int, by: str) -> dict[str, Any]:
        with self._lock:
            try:
                alarm = self.alarms.acknowledge(alarm_id, by, time.time())
            except KeyError:
                raise CommandRejected("no such alarm", alarm_id=alarm_id) from None
            self._save_alarms()
            return {"id": alarm.id, "acked": alarm.acked, "acked_by": alarm.acked_by}

    # --- history --------------------------------------------------------------------
    def series(self, name: str, t0_s: float | None, t1_s: float | None,
               buckets: int) -> dict[str, Any]:
        if name not in self.dictionary().telemetry:
            raise CommandRejected("unknown telemetry point", point=safe_repr(name, 80))
        samples = self._samples(name)
        result = series_mod.build(name, samples, buckets, t0_s, t1_s).to_json()
        result["truncated"] = len(samples) >= SERIES_MAX_ROWS
        result["units"] = self.dictionary().telemetry[name].units
        return result

    def _samples(self, name: str) -> list[tuple[int, float, Any]]:
        """Every archived sample of ``name`` as ``(row id, time_s, value)``, read
        incrementally: a live plot's refresh reads only the rows added since the last
        one (the archive only appends). A few points are kept, least recently used out."""
        reader = self.reader()
        with self._lock:
            cached = self._series_cache.pop(name, None)
            if cached is None or cached[0] != str(reader.path):
                cached = (str(reader.path), [])
            self._series_cache[name] = cached
            while len(self._series_cache) > SERIES_CACHED_POINTS:
                self._series_cache.popitem(last=False)
            samples = cached[1]
            while len(samples) < SERIES_MAX_ROWS:
                after = samples[-1][0] if samples else 0
                page = reader.samples(name, after_id=after,
                                      limit=min(20_000, SERIES_MAX_ROWS - len(samples)))
                if not page:
                    break
                samples.extend((s.id, s.time_s, s.value) for s in page)
            return list(samples)

    def events(self, min_severity: str | None, limit: int, after_id: int) -> dict[str, Any]:
        if min_severity is not None and min_severity not in SEVERITY_ORDER:
            raise CommandRejected("unknown severity", got=safe_repr(min_severity, 40),
                                  valid=SEVERITY_ORDER)
        rows = self.reader().events(limit=limit, min_severity=min_severity,
                                    after_id=after_id)
        return {"events": [{"id": e.id, "seq": e.seq, "time_s": e.time_s, "rx_s": e.rx_s,
                            "name": e.name, "severity": e.severity, "text": e.text}
                           for e in rows], "severities": SEVERITY_ORDER}

    def products(self, limit: int = 30) -> dict[str, Any]:
        """The newest capture-window products (operator jobs are in :meth:`jobs`)."""
        reader = self.reader()
        rows = [r for r in reader.products_after(0) if r.body.get("product") not in
                JOB_PRODUCTS][-limit:]
        return {"products": [{"id": r.id, "time_s": r.time_s, "rx_s": r.rx_s,
                              **{k: _plain(v) for k, v in r.body.items()}}
                             for r in reversed(rows)]}

    def _job_tiles(self) -> dict[int, tile_products.JobTiles]:
        return tile_products.collect(r.body for r in self.reader().products_after(0)
                                     if r.body.get("product") in JOB_PRODUCTS)

    def jobs(self, limit: int = 20) -> dict[str, Any]:
        """Operator jobs as the archive holds them: outcome, accuracy, which tiles are
        down (drawn by :meth:`tile_png`) and which parts are still onboard."""
        jobs = self._job_tiles()
        out = []
        for job_id in sorted(jobs, reverse=True)[:limit]:
            job = jobs[job_id]
            s = job.summary or {}
            out.append({"job_id": job_id, "status": s.get("status", "tiles only: the job "
                                                          "product is not down yet"),
                        "reason": s.get("reason") or "", "n_tiles": s.get("n_tiles"),
                        "accuracy": s.get("accuracy"), "tiles_sent": s.get("tiles_sent"),
                        "downlink_saved_frac": s.get("downlink_saved_frac"),
                        "ended_s": s.get("ended_s"), "tiles": sorted(job.tiles),
                        "parts_missing": job.parts_missing, "bad": job.bad[:10]})
        return {"jobs": out}

    def tile_png(self, job_id: int, index: int, band: str) -> bytes:
        """One downlinked tile as a PNG: ``rgb`` (true colour) or ``swir`` (grey)."""
        if band not in TILE_BANDS:
            raise CommandRejected("unknown band", got=safe_repr(band, 20),
                                  valid=list(TILE_BANDS))
        job = self._job_tiles().get(job_id)
        if job is None or index not in job.tiles:
            raise CommandRejected("no such tile on the ground", job_id=job_id, index=index)
        rgb, swir = tile_products.rgb_and_swir(job.tiles[index])
        side = tile_products.TILE_PX
        return png.encode(swir, side, side, 1) if band == "swir" else \
            png.encode(rgb, side, side, 3)

    def passes(self, next_pass: dict[str, Any] | None) -> dict[str, Any]:
        """Contact windows seen in the archive, plus the predicted next one."""
        reader = self.reader()
        with self._lock:
            if self._contacts_archive != str(reader.path):  # a new run: start over
                self._contacts_archive = str(reader.path)
                self._contact_cursor.clear()
                for samples in self._contacts.values():
                    samples.clear()
            for point, samples in self._contacts.items():
                while True:
                    page = reader.samples(point, self._contact_cursor.get(point, 0), 20_000)
                    if not page:
                        break
                    samples.extend((s.time_s, s.value) for s in page)
                    self._contact_cursor[point] = page[-1].id
            windows = contact_windows(self._contacts["link.in_contact"],
                                      self._contacts["link.station"])
        if next_pass and next_pass.get("aos_utc_s") and next_pass.get("los_utc_s"):
            windows.append(Window(float(next_pass["aos_utc_s"]), float(next_pass["los_utc_s"]),
                                  str(next_pass.get("station", "")), predicted=True))
        return {"passes": [w.to_json() for w in windows[-20:]]}

    # --- commanding -----------------------------------------------------------------
    def submit(self, name: Any, args: Any, at_s: Any, confirm: bool) -> dict[str, Any]:
        """Validate against the dictionary, ask for confirmation of a hazardous command,
        then hand it to the ground's queue. CommandRejected says why not."""
        dictionary = self.dictionary()
        clean = dictionary.validate_command(name, args)
        if dictionary.commands[name].hazardous and not confirm:
            raise CommandRejected("hazardous command: confirm it", command=name,
                                  needs_confirmation=True)
        request: dict[str, Any] = {"name": name, "args": clean, "confirm": bool(confirm)}
        if at_s is not None:
            request["at_s"] = at_s
        reply = self._ops("cmd", **request)
        if not reply.get("ok"):
            details = {k: v for k, v in reply.items() if k not in ("ok", "error", "token")}
            raise CommandRejected(str(reply.get("error", "refused")), **details)
        record = dict(reply["command"])
        self._remember(record)
        return record

    def _remember(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._commands[int(record["cmd_seq"])] = record
            self._commands.move_to_end(int(record["cmd_seq"]))
            while len(self._commands) > KEEP_COMMANDS:
                self._commands.popitem(last=False)
            if record["name"] == "schedule.list" and record["stage"] == "completed":
                self._schedule_note = {"cmd_seq": record["cmd_seq"], "text": record["reason"],
                                       "onboard_time_s": record.get("onboard_time_s")}

    def command(self, cmd_seq: int) -> dict[str, Any]:
        reply = self._ops("cmd_status", cmd_seq=cmd_seq)
        if not reply.get("ok"):
            raise CommandRejected(str(reply.get("error", "refused")), cmd_seq=cmd_seq)
        record = dict(reply["command"])
        if cmd_seq in self._commands:
            self._remember(record)
        return record

    def queue_action(self, action: str, cmd_seq: int) -> dict[str, Any]:
        """Cancel, hold or release a command still at the ground (:data:`QUEUE_ACTIONS`);
        a refusal says why (e.g. already sent) with the command's stage."""
        if action not in QUEUE_ACTIONS:
            raise CommandRejected("unknown queue action", got=safe_repr(action, 20),
                                  valid=list(QUEUE_ACTIONS))
        reply = self._ops(action, cmd_seq=cmd_seq)
        if not reply.get("ok"):
            details = {k: v for k, v in reply.items() if k not in ("ok", "error", "command")}
            raise CommandRejected(str(reply.get("error", "refused")), **details)
        record = dict(reply["command"])
        self._remember(record)
        return record

    def commands(self) -> dict[str, Any]:
        """This console's recent commands (unfinished ones refreshed), newest first."""
        for cmd_seq, record in list(self._commands.items()):
            if record["stage"] not in ("completed", "failed"):
                self.command(cmd_seq)
        with self._lock:
            recent = list(reversed(self._commands.values()))
        return {"commands": recent, "schedule_note": self._schedule_note}


def _plain(value: Any) -> Any:
    """A value JSON can carry: NaN and infinities become None, odd types text."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value[:256]]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in list(value.items())[:64]}
    return safe_repr(value, 200)
