"""The operator CLI: ``aisat ground cmd|cancel|queue|rotate-key|tlm|events|status|
export|products|migrate``.

Exit codes are part of the interface (scripts and CI use them):

- 0: done (a command ``completed``; a read printed something);
- 1: the operation failed (a command ``failed`` or timed out; no stack running);
- 2: the operator's input is wrong (unknown command, point or severity; a bad argument;
  a malformed ``key=value``). The message names the problem and the valid choices, and
  nothing is sent.

Commands are validated against the dictionary *before* anything is sent, then go
through the ground process's ops socket; reads (``tlm``, ``events``, ``products``,
``export``: see :mod:`ground.export`) query the archive directly, read-only - also after
the stack has stopped: without ``stack.json`` they read ``RUN_DIR/archive.sqlite`` and
say that they show a stopped run.

Times: ``tlm`` ages are measured against the ground's *mission now* (the spacecraft time
of the latest WORLD message; for a stopped run, the last one), and ``events`` are in the
order of the spacecraft times the flight stamped on them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from flightsw.dictionary import Dictionary, Limits
from flightsw.errors import CommandRejected, FlightError
from flightsw.stackinfo import default_run_dir
from ground import export, key_cli, model_cli, queue_cli, tile_products
from ground.api import Ops, Verification
from ground.archive_query import open_archive
from ground.archive_reader import SEVERITY_ORDER, ArchiveReader, Sample
from ground.display import close_matches, refusal_text, utc_text, value_text
from ground.errors import GroundError, NoStack, OpsError, WaitTimeout
from ground.stack import ARCHIVE_FILE, archive_path, dictionary_for, read_stack

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PROG = "aisat ground"
DEFAULT_HK_PERIOD_S = 1.0
"""The flight's default housekeeping period (``flightsw.config``), used when the
archive does not show one."""
STALE_PERIODS = 3.0
"""A sample is ``stale`` once older than this many housekeeping periods."""


class UsageError(GroundError):
    """The operator's input is wrong (exit 2)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Operate the spacecraft from the "
                                "ground: send commands, read telemetry and events.")
    _stack_options(p, defaults=True)
    # the same options after the action too (``aisat ground tlm --run-dir X``)
    common = argparse.ArgumentParser(add_help=False)
    _stack_options(common, defaults=False)
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    c = sub.add_parser("cmd", parents=[common],
                       help="send a command and wait for its verification")
    c.add_argument("name", nargs="?", help="command name, e.g. exec.noop (omit it to list "
                   "the commands)")
    c.add_argument("pairs", nargs="*", metavar="key=value", help="arguments")
    c.add_argument("--no-wait", action="store_true", help="return once queued")
    c.add_argument("--confirm", action="store_true",
                   help="confirm a hazardous command (marked [hazardous] in the list); "
                        "refused without it")
    c.add_argument("--at", metavar="TIME", default=None,
                   help="time-tag it: the spacecraft stores it and runs it at TIME, in "
                        "contact or not; TIME is UTC (2026-11-22T08:30:00Z) or +SECONDS from "
                        "the spacecraft's latest time; waits until it is stored onboard")
    c.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="seconds to wait for completed/failed (default 30)")
    k = sub.add_parser("cancel", parents=[common],
                       help="withdraw a command still queued at the ground for the next pass")
    k.add_argument("cmd_seq", metavar="SEQ", help="the command's number, as 'cmd' printed "
                   "it (7 or #7)")
    t = sub.add_parser("tlm", parents=[common], help="latest telemetry (all points, or one)")
    t.add_argument("point", nargs="?", help="one telemetry point")
    t.add_argument("--stale-after", type=float, default=None, metavar="S",
                   help=f"mark samples older than S seconds of mission time as stale "
                   f"(default {STALE_PERIODS:g} x the housekeeping period)")
    e = sub.add_parser("events", parents=[common],
                       help="the latest events, in spacecraft-time order")
    e.add_argument("--limit", type=int, default=20, metavar="N")
    e.add_argument("--severity", metavar="S",
                   help=f"at least this severity ({', '.join(SEVERITY_ORDER)})")
    sub.add_parser("status", parents=[common],
                   help="link, dictionary and command queue of the ground")
    qr = sub.add_parser("quarantine", parents=[common],
                        help="records the archive could not hold as they came, each with "
                        "the reason (newest last)")
    qr.add_argument("--limit", type=int, default=20, metavar="N")
    model_cli.add_arguments(sub.add_parser("model", parents=[common], help="the onboard "
                                           "model store: upload, list, activate, rollback, "
                                           "delete"), common)
    x = sub.add_parser("export", parents=[common], help="telemetry records to CSV (one "
                       "row per record, one column per point); no ground process needed")
    x.add_argument("--points", metavar="P[,P...]", help="only these points (default all)")
    x.add_argument("--from", dest="t_from", metavar="TIME", help="onboard time from (UTC "
                   "ISO 8601 or UTC seconds)")
    x.add_argument("--to", dest="t_to", metavar="TIME", help="onboard time to")
    x.add_argument("--out", type=Path, required=True, metavar="FILE.csv")
    pp = sub.add_parser("products", parents=[common], help="payload data products")
    pp.add_argument("--limit", type=int, default=20, metavar="N")
    pp.add_argument("--from", dest="t_from", metavar="TIME")
    pp.add_argument("--to", dest="t_to", metavar="TIME")
    pp.add_argument("--out", type=Path, default=None, metavar="DIR",
                    help="write the operator jobs' tiles there as PNG (RGB and SWIR)")
    m = sub.add_parser("migrate", parents=[common], help="convert an archive written by "
                       "an older aisat to this schema, in place")
    m.add_argument("--archive", type=Path, default=None, metavar="FILE",
                   help=f"default RUN_DIR/{ARCHIVE_FILE}")
    queue_cli.add_parser(sub, common)
    key_cli.add_parser(sub, common)
    return p


def _stack_options(p: argparse.ArgumentParser, defaults: bool) -> None:
    """``--run-dir`` and ``--ops-timeout``; after the action they override only if given."""
    p.add_argument("--run-dir", type=Path, default=None if defaults else argparse.SUPPRESS,
                   help=f"the stack's run directory (default: {default_run_dir()})")
    p.add_argument("--ops-timeout", type=float, default=3.0 if defaults else argparse.SUPPRESS,
                   metavar="S", help="seconds to wait for the ground process to answer "
                   "(default 3)")


def main(argv: list[str] | None = None, out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage problem
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    run_dir = args.run_dir if args.run_dir is not None else default_run_dir()
    try:
        if args.action == "cmd":
            return _cmd(run_dir, args, out, err)
        if args.action == "status":
            return _status(Ops(run_dir, request_timeout_s=args.ops_timeout), out)
        if args.action == "cancel":
            return _cancel(run_dir, args, out, err)
        if args.action == "queue":
            return queue_cli.run(run_dir, args, out, err)
        if args.action == "rotate-key":
            return key_cli.run(run_dir, args, out, err)
        if args.action == "tlm":
            return _tlm(run_dir, args.point, args.stale_after, out)
        if args.action == "events":
            return _events(run_dir, args.limit, args.severity, out)
        if args.action == "quarantine":
            return _quarantine(run_dir, args.limit, out)
        if args.action == "model":
            return model_cli.run(lambda: Ops(run_dir, request_timeout_s=args.ops_timeout),
                                 args, out, lambda: dictionary_for(run_dir))
        if args.action in ("export", "products", "migrate"):
            return _archive_action(run_dir, args, out)
        raise AssertionError(f"unhandled action {args.action}")  # argparse restricts it
    except (UsageError, CommandRejected) as exc:
        print(f"{PROG}: {refusal_text(exc)}", file=err)
        return EXIT_USAGE
    except NoStack as exc:
        print(f"{PROG}: {exc}", file=err)
        return EXIT_FAILED
    except FlightError as exc:  # ground refusals, unreadable files, timeouts
        print(f"{PROG}: {exc}", file=err)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=err)
        return EXIT_FAILED


# --- cmd -------------------------------------------------------------------------------
def _cmd(run_dir: Path, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    dictionary = dictionary_for(run_dir)
    if args.name is None:
        raise UsageError("name a command", valid=[
            " ".join([c.name, *(a.describe() for a in c.args)]) + (
                "  [hazardous]" if c.hazardous else "")
            for c in sorted(dictionary.commands.values(), key=lambda c: c.name)])
    clean = dictionary.parse_command_text(args.name, args.pairs)  # raises: exit 2
    at_s = None if args.at is None else parse_at(args.at, run_dir)  # raises: exit 2
    ops = Ops(run_dir, request_timeout_s=args.ops_timeout)
    try:
        queued = ops.submit(args.name, clean, at_s=at_s, confirm=args.confirm)
    except CommandRejected as exc:  # the ground's dictionary refused it
        print(f"{PROG}: {refusal_text(exc)}", file=err)
        return EXIT_USAGE
    print(_stage_line(queued), file=out)
    if args.no_wait or queued.finished:
        return EXIT_OK if not queued.finished or queued.ok else EXIT_FAILED
    printed = {"queued"}

    def show(ver: Verification) -> None:
        if ver.stage not in printed:
            printed.add(ver.stage)
            print(_stage_line(ver), file=out, flush=True)

    if at_s is not None:
        return _wait_stored(ops, queued, args.timeout, show, out)
    try:
        final = ops.wait_verification(queued.cmd_seq, args.timeout, on_stage=show)
    except WaitTimeout as exc:
        print(f"{PROG}: {exc}", file=err)
        _still_queued_hint(ops, queued.cmd_seq, str(exc.details.get("stage", "")), err)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=err)
        _still_queued_hint(ops, queued.cmd_seq, None, err)
        return EXIT_FAILED
    return EXIT_OK if final.ok else EXIT_FAILED


def parse_at(text: str, run_dir: Path) -> float:
    """A time tag: ISO 8601 UTC, or ``+SECONDS`` after the spacecraft's latest time as the
    ground last heard it. Raises :class:`UsageError` with the reason."""
    import datetime as dt
    import math

    text = text.strip()
    if text.startswith("+"):
        try:
            offset_s = float(text[1:])
        except ValueError:
            raise UsageError("--at +SECONDS needs a number of seconds", got=text) from None
        if not math.isfinite(offset_s) or offset_s <= 0:
            raise UsageError("--at +SECONDS must be a positive number", got=text)
        try:
            now_s = ArchiveReader(archive_path(read_stack(run_dir))).mission_now_s()
        except (NoStack, OSError) as exc:
            raise UsageError("--at +SECONDS needs the spacecraft's time, and there is no "
                             f"archive to read it from ({exc})") from None
        if now_s is None:
            raise UsageError("--at +SECONDS needs the spacecraft's time: nothing heard yet; "
                             "give a UTC time instead")
        return now_s + offset_s
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError("--at takes a UTC time like 2026-11-22T08:30:00Z or +SECONDS",
                         got=text) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


def _wait_stored(ops: Ops, queued: Verification, timeout_s: float,
                 show: Any, out: TextIO) -> int:
    """A time-tagged command is done, for the CLI, once the spacecraft has stored it."""
    deadline = ops.clock.monotonic_s() + timeout_s
    while True:
        ver = ops.verification(queued.cmd_seq)
        show(ver)
        if ver.stage == "failed":
            return EXIT_FAILED
        if ver.stage in ("accepted", "completed"):
            print("stored onboard; see it with: aisat ground cmd schedule.list", file=out)
            return EXIT_OK
        if ops.clock.monotonic_s() >= deadline:
            print(f"{PROG}: command #{queued.cmd_seq} is {ver.stage}; it goes up at the "
                  f"next pass (aisat ground cancel {queued.cmd_seq} withdraws it)", file=out)
            return EXIT_OK if ver.stage == "queued" else EXIT_FAILED
        ops.clock.sleep_s(0.1)


def _still_queued_hint(ops: Ops, cmd_seq: int, stage: str | None, err: TextIO) -> None:
    """We stop waiting, the command does not: say where it is and how to withdraw it."""
    if stage is None:  # interrupted: ask once, briefly
        try:
            stage = ops.verification(cmd_seq).stage
        except (GroundError, KeyboardInterrupt):
            stage = ""
    if stage == "queued":
        print(f"{PROG}: command #{cmd_seq} is still queued at the ground and will be sent "
              f"at the next pass; to withdraw it: aisat ground cancel {cmd_seq}", file=err)
    elif stage in ("sent", "received", "accepted", "started"):
        print(f"{PROG}: command #{cmd_seq} is already {stage} on board and cannot be "
              f"cancelled; follow it with: aisat ground status", file=err)
    else:
        print(f"{PROG}: command #{cmd_seq} may still be queued for the next pass; check "
              f"with 'aisat ground status', withdraw it with: aisat ground cancel {cmd_seq}",
              file=err)


# --- cancel ----------------------------------------------------------------------------
def _cancel(run_dir: Path, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        cmd_seq = queue_cli.parse_seq(args.cmd_seq)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    ops = Ops(run_dir, request_timeout_s=args.ops_timeout)
    try:
        ver = ops.cancel(cmd_seq)
    except OpsError as exc:
        stage = exc.details.get("stage")
        if exc.reason == "unknown command":
            print(f"{PROG}: no command #{cmd_seq} in the ground's command log "
                  f"(next number: {exc.details.get('next_cmd_seq', '?')})", file=err)
        elif stage:
            print(f"{PROG}: command #{cmd_seq} not cancelled: {exc.reason} "
                  f"(stage: {stage})", file=err)
        else:
            print(f"{PROG}: command #{cmd_seq} not cancelled: {exc}", file=err)
        return EXIT_FAILED
    print(f"#{ver.cmd_seq} {ver.name}: cancelled before it was sent", file=out)
    return EXIT_OK


def _stage_line(ver: Verification) -> str:
    args = " ".join(f"{k}={v}" for k, v in ver.args.items())
    head = f"#{ver.cmd_seq} {ver.name}{' ' + args if args else ''}: {ver.stage}"
    if ver.stage == "failed":
        head += f" ({ver.failed_at or 'unknown'})"
    return f"{head}: {ver.reason}" if ver.reason else head


# --- tlm -------------------------------------------------------------------------------
def _tlm(run_dir: Path, point: str | None, stale_after_s: float | None, out: TextIO) -> int:
    dictionary = dictionary_for(run_dir)
    if point is not None and point not in dictionary.telemetry:
        raise UsageError("unknown telemetry point", point=point,
                         **close_matches(point, list(dictionary.telemetry)))
    if stale_after_s is not None and not stale_after_s > 0:
        raise UsageError("--stale-after must be a number of seconds > 0", got=stale_after_s)
    with _reader(run_dir, out) as reader:
        if point is not None:
            sample = reader.latest(point)
            if sample is None:
                raise GroundError("no samples of this point yet", point=point)
            samples = {point: sample}
        else:
            samples = reader.latest_all()
        now_s = reader.mission_now_s()
        hk_period_s = reader.housekeeping_period_s()
    if not samples:
        raise GroundError("no telemetry in the archive yet")
    if stale_after_s is None:
        period = hk_period_s or DEFAULT_HK_PERIOD_S
        stale_after_s = STALE_PERIODS * period
        rule = (f"older than {STALE_PERIODS:g} x the housekeeping period "
                f"({period:g} s{'' if hk_period_s else ', the default'}) = "
                f"{stale_after_s:g} s")
    else:
        rule = f"older than {stale_after_s:g} s (--stale-after)"
    rows = [_tlm_row(dictionary, s, now_s, stale_after_s) for s in samples.values()]
    _table(["POINT", "VALUE", "UNITS", "LIMIT", "ONBOARD TIME (UTC)", "AGE S", "FRESH"],
           rows, out)
    if point is None:
        missing = sorted(set(dictionary.telemetry) - set(samples))
        if missing:
            print(f"({len(missing)} declared points never received: "
                  f"{', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''})", file=out)
    print(f"AGE S: mission time now ({utc_text(now_s)}, the ground's latest spacecraft "
          f"time) minus the sample's onboard time; stale: {rule}", file=out)
    return EXIT_OK


def _tlm_row(dictionary: Dictionary, s: Sample, now_s: float | None,
             stale_after_s: float) -> list[str]:
    decl = dictionary.telemetry.get(s.name)
    units = decl.units if decl else "?"
    limit = _limit_state(decl.limits if decl else None, s.value)
    name = s.name if decl else f"{s.name} (undeclared)"
    if now_s is None or s.time_s is None:
        age, fresh = "-", "?"
    else:
        # the ground's clock follows WORLD, one message a second; a sample stamped within
        # that second would show a negative (or "-0.0") age
        age_s = max(0.0, now_s - s.time_s)
        age, fresh = f"{age_s:.1f}", ("stale" if age_s > stale_after_s else "ok")
    return [name, value_text(s.value), units or "-", limit, utc_text(s.time_s), age, fresh]


def _limit_state(limits: Limits | None, value: Any) -> str:
    if limits is None or isinstance(value, bool):
        return "-"
    if value is None:
        return limits.classify(float("nan"))
    if not isinstance(value, (int, float)):
        return "-"
    return limits.classify(value)


# --- events ----------------------------------------------------------------------------
def _check_limit(limit: int) -> None:
    """``--limit`` of events, quarantine and products: at least one row."""
    if limit < 1:
        raise UsageError("--limit must be at least 1", got=limit)


def _events(run_dir: Path, limit: int, severity: str | None, out: TextIO) -> int:
    _check_limit(limit)
    min_severity = _severity(severity) if severity else None
    with _reader(run_dir, out) as reader:
        rows = reader.events(limit=limit, min_severity=min_severity)
    if not rows:
        print("(no events)", file=out)
        return EXIT_OK
    _table(["ONBOARD TIME (UTC)", "SEQ", "SEVERITY", "EVENT", "TEXT"],
           [[utc_text(r.time_s), str(r.seq), r.severity, r.name, r.text]
            for r in rows], out)
    return EXIT_OK


def _quarantine(run_dir: Path, limit: int, out: TextIO) -> int:
    _check_limit(limit)
    with _reader(run_dir, out) as reader:
        rows = reader.quarantine(limit=limit)
    if not rows:
        print("(nothing quarantined)", file=out)
        return EXIT_OK
    _table(["RECEIVED (UTC)", "KIND", "SEQ", "REASON", "DETAIL"],
           [[utc_text(r["rx_s"]), str(r["kind"]), "" if r["seq"] is None else str(r["seq"]),
             str(r["reason"]), _one_line(str(r["detail"] or ""), 80)] for r in rows], out)
    return EXIT_OK


def _one_line(text: str, max_chars: int = 200) -> str:
    """Event text from the spacecraft, safe for a terminal: one line, no control codes."""
    clean = "".join(c if c.isprintable() else " " for c in str(text))
    return clean if len(clean) <= max_chars else clean[:max_chars - 3] + "..."


def _severity(text: str) -> str:
    wanted = text.upper().replace("-", "_")
    if wanted in SEVERITY_ORDER:
        return wanted
    prefixed = [s for s in SEVERITY_ORDER if s.startswith(wanted)]
    if prefixed:
        return prefixed[0]  # "warning" means WARNING_LO and above
    raise UsageError("unknown severity", got=text, valid=SEVERITY_ORDER)


# --- export, products, migrate (the archive file alone) ---------------------------------
def _archive_action(run_dir: Path, args: argparse.Namespace, out: TextIO) -> int:
    if args.action == "migrate":
        print(export.migrate_text(args.archive or Path(run_dir) / ARCHIVE_FILE), file=out)
        return EXIT_OK
    try:
        t_from = export.parse_time(args.t_from, "--from")
        t_to = export.parse_time(args.t_to, "--to")
    except export.ExportError as exc:
        raise UsageError(exc.reason, **exc.details) from None
    with _reader(run_dir, out) as reader:
        if args.action == "products":
            _check_limit(args.limit)
            rows = export.products_text(reader, args.limit, t_from, t_to)
            if not rows:
                print("(no products)", file=out)
            else:
                _table(["ONBOARD TIME (UTC)", "SEQ", "PRODUCT"], rows, out)
            _job_products(reader, t_from, t_to, args.out, out)
            return EXIT_OK
        points = [p.strip() for p in args.points.split(",") if p.strip()] \
            if args.points else None
        try:
            n = export.export_csv(reader, args.out, points, t_from, t_to)
        except export.ExportError as exc:
            if "unknown" in exc.details or "t_from" in exc.details:
                raise UsageError(exc.reason, **exc.details) from None
            raise
    print(f"{n} records written to {args.out}", file=out)
    return EXIT_OK


def _job_products(reader: ArchiveReader, t_from: float | None, t_to: float | None,
                  out_dir: Path | None, out: TextIO) -> None:
    """The operator jobs among the products (:mod:`ground.tile_products`): their table,
    and with ``--out`` their tiles as PNG files."""
    bodies = [p.body for p in reader.products(t_from, t_to, limit=tile_products.SCAN_LIMIT)]
    if out_dir is None and not tile_products.has_jobs(bodies):
        return
    print("", file=out)
    for line in tile_products.products_report(bodies, out_dir):
        print(_one_line(line, 400), file=out)


# --- status ----------------------------------------------------------------------------
def _status(ops: Ops, out: TextIO) -> int:
    st = ops.status()
    link, dic, counts = st["link"], st["dictionary"], st["counts"]
    contact = "IN CONTACT" if link["in_contact"] else "no contact"
    print(f"link: {contact} {link.get('station') or ''}  executive "
          f"{'connected' if st.get('flight_connected') else 'not connected'}", file=out)
    nxt = link.get("next_pass")
    if nxt:
        print(f"next pass: {nxt.get('station', '?')} AOS {utc_text(nxt.get('aos_utc_s'))}",
              file=out)
    print(f"uplink: {st.get('uplink', '?')}", file=out)
    if st.get("clock"):
        print(f"ground clock: {st['clock']}, mission time {utc_text(st.get('mission_now_s'))}",
              file=out)
    print(f"dictionary: {dic['state']} (ground {dic['ground_hash']}, flight "
          f"{dic['flight_hash'] or '?'})", file=out)
    print(f"frames: {counts['frames_received']} received, {counts['decode_errors']} "
          f"undecodable, {counts['dropped_out_of_contact']} dropped out of contact, "
          f"{counts['downlink_missing']} missing, {counts['downlink_duplicates']} "
          f"duplicates (dropped), {counts.get('downlink_rerequested', 0)} re-requested, "
          f"{counts.get('downlink_evicted', 0)} evicted onboard; "
          f"{counts.get('acks_sent', 0)} acknowledgements sent", file=out)
    quarantined = int(counts.get("quarantined", 0))
    if quarantined:
        print(f"archive: {quarantined} records quarantined, not archived as they came "
              f"(aisat ground quarantine)", file=out)
    keys = st.get("uplink_keys") or {}
    if keys:
        pending = keys.get("pending_key_ids") or []
        print(f"uplink key: {keys.get('key_id')}"
              f"{f' (rotation to {pending} waiting for the flight)' if pending else ''}; "
              f"{keys.get('retries', 0)} commands sent again for want of a report", file=out)
    for rec in st["queue"]:
        print(f"queued: #{rec['cmd_seq']} {rec['name']} {rec['args']}", file=out)
    for rec in st.get("held") or []:
        print(f"held: #{rec['cmd_seq']} {rec['name']} {rec['args']} "
              f"(aisat ground queue release {rec['cmd_seq']})", file=out)
    for rec in st["in_flight"]:
        print(f"{rec['stage']}: #{rec['cmd_seq']} {rec['name']} {rec['args']}", file=out)
    return EXIT_OK


# --- helpers ---------------------------------------------------------------------------
def _reader(run_dir: Path, out: TextIO) -> ArchiveReader:
    """The running stack's archive, or a stopped run's (``RUN_DIR/archive.sqlite``)."""
    opened = open_archive(run_dir)
    if opened.stopped:
        print(f"(stopped run: no stack is running in {run_dir}; showing its archive "
              f"{opened.path})", file=out)
    return opened.reader


def _table(header: list[str], rows: Sequence[list[str]], out: TextIO) -> None:
    """Columns padded to width; every cell one printable line (values come from space)."""
    rows = [[_one_line(str(c)) for c in row] for row in rows]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row, widths, strict=True)]
        print("  ".join(cells).rstrip(), file=out)


if __name__ == "__main__":
    sys.exit(main())
