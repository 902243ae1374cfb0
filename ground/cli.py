"""The operator CLI: ``aisat ground cmd|tlm|events|status``.

Exit codes are part of the interface (scripts and CI use them):

- 0: done (a command ``completed``; a read printed something);
- 1: the operation failed (a command ``failed`` or timed out; no stack running);
- 2: the operator's input is wrong (unknown command, point or severity; a bad argument;
  a malformed ``key=value``). The message names the problem and the valid choices, and
  nothing is sent.

Commands are validated against the dictionary *before* anything is sent, then go
through the ground process's ops socket; reads (``tlm``, ``events``) query the archive
directly, read-only.
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
from ground.api import Ops, Verification
from ground.archive_reader import SEVERITY_ORDER, ArchiveReader, Sample
from ground.display import close_matches, refusal_text, utc_text, value_text
from ground.errors import GroundError, NoStack, WaitTimeout
from ground.stack import archive_path, dictionary_for, read_stack

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PROG = "aisat ground"


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
    c.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="seconds to wait for completed/failed (default 30)")
    t = sub.add_parser("tlm", parents=[common], help="latest telemetry (all points, or one)")
    t.add_argument("point", nargs="?", help="one telemetry point")
    e = sub.add_parser("events", parents=[common], help="recent events")
    e.add_argument("--limit", type=int, default=20, metavar="N")
    e.add_argument("--severity", metavar="S",
                   help=f"at least this severity ({', '.join(SEVERITY_ORDER)})")
    sub.add_parser("status", parents=[common],
                   help="link, dictionary and command queue of the ground")
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
        if args.action == "tlm":
            return _tlm(run_dir, args.point, out)
        if args.action == "events":
            return _events(run_dir, args.limit, args.severity, out)
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
    ops = Ops(run_dir, request_timeout_s=args.ops_timeout)
    try:
        queued = ops.submit(args.name, clean)
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

    try:
        final = ops.wait_verification(queued.cmd_seq, args.timeout, on_stage=show)
    except WaitTimeout as exc:
        print(f"{PROG}: {exc}", file=err)
        return EXIT_FAILED
    return EXIT_OK if final.ok else EXIT_FAILED


def _stage_line(ver: Verification) -> str:
    args = " ".join(f"{k}={v}" for k, v in ver.args.items())
    head = f"#{ver.cmd_seq} {ver.name}{' ' + args if args else ''}: {ver.stage}"
    if ver.stage == "failed":
        head += f" ({ver.failed_at or 'unknown'})"
    return f"{head}: {ver.reason}" if ver.reason else head


# --- tlm -------------------------------------------------------------------------------
def _tlm(run_dir: Path, point: str | None, out: TextIO) -> int:
    dictionary = dictionary_for(run_dir)
    if point is not None and point not in dictionary.telemetry:
        raise UsageError("unknown telemetry point", point=point,
                         **close_matches(point, list(dictionary.telemetry)))
    with _reader(run_dir) as reader:
        if point is not None:
            sample = reader.latest(point)
            if sample is None:
                raise GroundError("no samples of this point yet", point=point)
            samples = {point: sample}
        else:
            samples = reader.latest_all()
    if not samples:
        raise GroundError("no telemetry in the archive yet")
    newest_s = max(s.time_s for s in samples.values())
    rows = [_tlm_row(dictionary, s, newest_s) for s in samples.values()]
    _table(["POINT", "VALUE", "UNITS", "LIMIT", "ONBOARD TIME (UTC)", "AGE S"], rows, out)
    if point is None:
        missing = sorted(set(dictionary.telemetry) - set(samples))
        if missing:
            print(f"({len(missing)} declared points never received: "
                  f"{', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''})", file=out)
    print("AGE S: how far behind the newest onboard time in this table", file=out)
    return EXIT_OK


def _tlm_row(dictionary: Dictionary, s: Sample, newest_s: float) -> list[str]:
    decl = dictionary.telemetry.get(s.name)
    units = decl.units if decl else "?"
    limit = _limit_state(decl.limits if decl else None, s.value)
    name = s.name if decl else f"{s.name} (undeclared)"
    return [name, value_text(s.value), units or "-", limit, utc_text(s.time_s),
            f"{newest_s - s.time_s:.1f}"]


def _limit_state(limits: Limits | None, value: Any) -> str:
    if limits is None or isinstance(value, bool):
        return "-"
    if value is None:
        return limits.classify(float("nan"))
    if not isinstance(value, (int, float)):
        return "-"
    return limits.classify(value)


# --- events ----------------------------------------------------------------------------
def _events(run_dir: Path, limit: int, severity: str | None, out: TextIO) -> int:
    if limit < 1:
        raise UsageError("--limit must be at least 1", got=limit)
    min_severity = _severity(severity) if severity else None
    with _reader(run_dir) as reader:
        rows = reader.events(limit=limit, min_severity=min_severity)
    if not rows:
        print("(no events)", file=out)
        return EXIT_OK
    _table(["ONBOARD TIME (UTC)", "SEVERITY", "EVENT", "TEXT"],
           [[utc_text(r.time_s), r.severity, r.name, r.text] for r in rows], out)
    return EXIT_OK


def _severity(text: str) -> str:
    wanted = text.upper().replace("-", "_")
    if wanted in SEVERITY_ORDER:
        return wanted
    prefixed = [s for s in SEVERITY_ORDER if s.startswith(wanted)]
    if prefixed:
        return prefixed[0]  # "warning" means WARNING_LO and above
    raise UsageError("unknown severity", got=text, valid=SEVERITY_ORDER)


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
    print(f"dictionary: {dic['state']} (ground {dic['ground_hash']}, flight "
          f"{dic['flight_hash'] or '?'})", file=out)
    print(f"frames: {counts['frames_received']} received, {counts['decode_errors']} "
          f"undecodable, {counts['dropped_out_of_contact']} dropped out of contact, "
          f"{counts['downlink_missing']} missing, {counts['downlink_duplicates']} "
          f"duplicates", file=out)
    for rec in st["queue"]:
        print(f"queued: #{rec['cmd_seq']} {rec['name']} {rec['args']}", file=out)
    for rec in st["in_flight"]:
        print(f"{rec['stage']}: #{rec['cmd_seq']} {rec['name']} {rec['args']}", file=out)
    return EXIT_OK


# --- helpers ---------------------------------------------------------------------------
def _reader(run_dir: Path) -> ArchiveReader:
    return ArchiveReader(archive_path(read_stack(run_dir)))


def _table(header: list[str], rows: Sequence[list[str]], out: TextIO) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row, widths, strict=True)]
        print("  ".join(cells).rstrip(), file=out)


if __name__ == "__main__":
    sys.exit(main())
