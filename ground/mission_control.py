"""Mission control: what the ground does with each frame, and what it sends up.

The core of the ground process, without sockets or clocks (times come in as arguments):

- every downlink frame is decoded with the shared codec; one that does not decode is
  counted, logged and archived as a link error, never raised;
- every record is archived (telemetry one row per point, events, every verification
  stage, data products, HELLOs) and its downlink sequence number accounted for (gaps,
  late arrivals, duplicates);
- commands are validated against the dictionary before they are queued, wait in the
  command log until the uplink is open *and* the flight's dictionary hash is known to
  match ours, then go up with their ``cmd_seq`` as the envelope sequence number;
- at every AOS (and when the executive reconnects) the ground sends HELLO with its
  dictionary hash. A flight HELLO with a different hash makes every waiting and every
  new command fail at the ground with that reason - the ground will not command a
  spacecraft whose dictionary it does not share.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from flightsw.dictionary import Dictionary
from flightsw.errors import WireError
from flightsw.wire import Envelope, Kind, Sequencer, encode, try_decode
from ground.archive import Archive
from ground.command_log import FLIGHT_STAGES, CommandLog, CommandRecord, Stage
from ground.downlink_seq import DownlinkSequence

log = logging.getLogger("ground.mission_control")

SOURCE = "ground"
HELLO_RETRY_S = 5.0
"""While in contact without the flight's HELLO, say HELLO again this often (it answers)."""
LOG_FIRST_ERRORS = 20
"""Decode errors logged one by one; after that only every 1000th (all are counted)."""

SendFrame = Callable[[bytes], bool]
"""Hands one uplink frame to the station; False if it cannot take it now (retry later)."""


class HashState:
    UNKNOWN = "unknown"  # no flight HELLO since the executive (re)connected
    MATCH = "match"
    MISMATCH = "mismatch"


class MissionControl:
    def __init__(self, dictionary: Dictionary, archive: Archive) -> None:
        self.dictionary = dictionary
        self.archive = archive
        self.commands = CommandLog(next_seq=archive.next_cmd_seq())
        restored = archive.unfinished_commands()
        self.commands.restore(restored)
        if restored:
            log.info("restored %d unfinished commands from the archive (%d queued)",
                     len(restored), sum(r.stage is Stage.QUEUED for r in restored))
        self.downlink = DownlinkSequence()
        self._hello_seq = Sequencer(SOURCE)
        self.hash_state = HashState.UNKNOWN
        self.flight_hash: str | None = None
        self.flight_version: str | None = None
        self.hello_pending = False
        self._hello_sent_s: float | None = None
        self.frames_received = 0
        self.decode_errors = 0
        self.decode_error_reasons: dict[str, int] = {}
        self.bad_bodies = 0  # decoded, but the body does not follow its kind's schema
        self.unexpected_kinds = 0  # decoded, but not a downlink kind
        self.records: dict[str, int] = {k.value: 0 for k in DOWNLINK_KINDS}
        self.telemetry_points = 0
        self.hellos_sent = 0
        self.last_rx_s: float | None = None
        self.last_onboard_time_s: float | None = None
        archive.set_meta("ground_dictionary_hash", dictionary.hash)

    # --- downlink -------------------------------------------------------------------
    def on_frame(self, frame: bytes, rx_s: float) -> None:
        """Take one frame from the station. Never raises for anything in the frame."""
        self.frames_received += 1
        self.last_rx_s = rx_s
        env = try_decode(frame)
        if isinstance(env, WireError):
            self._decode_error(frame, env.reason, str(env), rx_s)
            return
        handler = _HANDLERS.get(env.kind)
        if handler is None:
            self.unexpected_kinds += 1
            self._decode_error(frame, "not a downlink kind",
                               f"{env.kind.value} is not a downlink kind", rx_s)
            return
        self.downlink.observe(env.seq)  # even a bad body used up its sequence number
        try:
            handler(self, env, rx_s)
        except (TypeError, ValueError, KeyError) as exc:
            self.bad_bodies += 1
            self._decode_error(frame, f"bad {env.kind.value} body",
                               f"bad {env.kind.value} body: {exc}", rx_s)
            return
        self.records[env.kind.value] += 1
        self.last_onboard_time_s = env.time_s

    def _decode_error(self, frame: bytes, reason: str, detail: str, rx_s: float) -> None:
        self.decode_errors += 1
        self.decode_error_reasons[reason] = self.decode_error_reasons.get(reason, 0) + 1
        self.archive.add_link_error(rx_s, frame, detail)
        if self.decode_errors <= LOG_FIRST_ERRORS or self.decode_errors % 1000 == 0:
            log.warning("downlink frame rejected (%d so far): %s", self.decode_errors, detail)

    def _on_telemetry(self, env: Envelope, rx_s: float) -> None:
        points = env.body.get("points")
        if not isinstance(points, Mapping):
            raise TypeError("points must be a map")
        self.telemetry_points += self.archive.add_telemetry(env.seq, env.time_s, rx_s, points)

    def _on_event(self, env: Envelope, rx_s: float) -> None:
        b = env.body
        args = b.get("args")
        self.archive.add_event(env.seq, env.time_s, rx_s, _text(b.get("name")),
                               _text(b.get("severity")), _text(b.get("text")),
                               args if isinstance(args, Mapping) else {})

    def _on_verification(self, env: Envelope, rx_s: float) -> None:
        b = env.body
        cmd_seq, stage_text = b.get("cmd_seq"), b.get("stage")
        if not isinstance(cmd_seq, int) or isinstance(cmd_seq, bool):
            raise TypeError(f"cmd_seq must be an integer, got {cmd_seq!r:.40}")
        if stage_text not in {s.value for s in FLIGHT_STAGES}:
            raise ValueError(f"stage must be accepted/completed/failed, got {stage_text!r:.40}")
        name, reason = _text(b.get("name")), _text(b.get("reason"))
        self.archive.add_verification(env.seq, env.time_s, rx_s, cmd_seq, name, stage_text,
                                      reason)
        rec = self.commands.verify(cmd_seq, Stage(stage_text), reason, rx_s, env.time_s)
        if rec is not None:
            self.archive.put_command(rec)
        else:
            log.warning("verification for unknown command #%d (%s %s)", cmd_seq, name,
                        stage_text)

    def _on_result(self, env: Envelope, rx_s: float) -> None:
        self.archive.add_product(env.seq, env.time_s, rx_s, env.body)

    def _on_hello(self, env: Envelope, rx_s: float) -> None:
        flight_hash = _text(env.body.get("dictionary_hash"))
        self.flight_hash = flight_hash
        self.flight_version = _text(env.body.get("dictionary_version"))
        matches = flight_hash == self.dictionary.hash
        self.archive.add_hello("down", env.seq, env.time_s, rx_s, flight_hash,
                               self.flight_version, matches)
        if matches:
            if self.hash_state != HashState.MATCH:
                log.info("flight dictionary %s matches the ground's", flight_hash)
            self.hash_state = HashState.MATCH
            return
        if self.hash_state != HashState.MISMATCH:
            log.error("%s: commanding refused", self.mismatch_reason())
        self.hash_state = HashState.MISMATCH
        for rec in self.commands.queued():
            self._fail(rec, self.mismatch_reason(), rx_s)

    def mismatch_reason(self) -> str:
        return (f"dictionary mismatch: flight {self.flight_hash} "
                f"(version {self.flight_version}), ground {self.dictionary.hash} "
                f"(version {self.dictionary.version})")

    # --- link state -----------------------------------------------------------------
    def on_aos(self) -> None:
        self.hello_pending = True

    def on_flight_connected(self) -> None:
        """The executive (re)connected: it may have restarted with new numbering and a
        different dictionary, so expect a new epoch and ask for its HELLO again."""
        self.downlink.new_epoch()
        self.hash_state = HashState.UNKNOWN
        self.hello_pending = True

    # --- uplink ---------------------------------------------------------------------
    def submit(self, name: object, args: object, now_s: float) -> CommandRecord:
        """Validate and queue a command; raises CommandRejected (nothing queued) if bad.

        Takes untrusted values (straight from an ops request): validation checks types.
        """
        clean = self.dictionary.validate_command(name, args)
        rec = self.commands.submit(str(name), clean, now_s)
        if self.hash_state == HashState.MISMATCH:
            self._fail(rec, self.mismatch_reason(), now_s)
        else:
            self.archive.put_command(rec)
        return rec

    def cancel(self, cmd_seq: int, now_s: float) -> CommandRecord | None:
        """Withdraw a command still waiting in the queue; None if it is not waiting."""
        rec = self.commands.get(cmd_seq)
        if rec is None or rec.stage is not Stage.QUEUED:
            return None
        self._fail(rec, "cancelled by the operator before it was sent", now_s)
        return rec

    def pump_uplink(self, send: SendFrame, uplink_open: bool, now_s: float) -> int:
        """Send HELLO if due, then queued commands in order; return the commands sent."""
        if not uplink_open:
            return 0
        if (self.hash_state == HashState.UNKNOWN and self._hello_sent_s is not None
                and now_s - self._hello_sent_s >= HELLO_RETRY_S):
            self.hello_pending = True  # ours or its answer may have been lost
        if self.hello_pending:
            body = {"dictionary_hash": self.dictionary.hash,
                    "dictionary_version": self.dictionary.version}
            env = self._hello_seq.make(Kind.HELLO, now_s, body)
            if not send(encode(env)):
                return 0
            self.hello_pending = False
            self._hello_sent_s = now_s
            self.hellos_sent += 1
            self.archive.add_hello("up", env.seq, now_s, now_s, self.dictionary.hash,
                                   self.dictionary.version, None)
        if self.hash_state != HashState.MATCH:
            return 0  # commands wait for the flight's HELLO (or fail on a mismatch)
        sent = 0
        for rec in self.commands.queued():
            frame = encode(Envelope(Kind.COMMAND, SOURCE, rec.cmd_seq, now_s,
                                    {"name": rec.name, "args": rec.args}))
            if not send(frame):
                break
            self.commands.mark_sent(rec, now_s)
            self.archive.put_command(rec)
            sent += 1
        return sent

    def uplink_state(self, uplink_open: bool, flight_connected: bool) -> str:
        """Why queued commands are (not) going up, in an operator's words."""
        if self.hash_state == HashState.MISMATCH:
            return "refusing commands: " + self.mismatch_reason()
        if not uplink_open:
            return "holding commands until AOS"
        if not flight_connected:
            return "in contact, waiting for the executive to connect"
        if self.hash_state == HashState.UNKNOWN:
            return "in contact, waiting for the flight's HELLO"
        return "sending"

    def _fail(self, rec: CommandRecord, reason: str, now_s: float) -> None:
        self.commands.fail_at_ground(rec, reason, now_s)
        self.archive.put_command(rec)

    # --- reporting ------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Counts and state for the ops API (plain types only)."""
        return {
            "dictionary": {"ground_hash": self.dictionary.hash,
                           "ground_version": self.dictionary.version,
                           "flight_hash": self.flight_hash,
                           "flight_version": self.flight_version,
                           "state": self.hash_state},
            "frames_received": self.frames_received,
            "decode_errors": self.decode_errors,
            "decode_error_reasons": dict(self.decode_error_reasons),
            "bad_bodies": self.bad_bodies,
            "unexpected_kinds": self.unexpected_kinds,
            "records": dict(self.records),
            "telemetry_points": self.telemetry_points,
            "downlink_seq": self.downlink.as_dict(),
            "downlink_gaps": self.downlink.gap_ranges(),
            "hellos_sent": self.hellos_sent,
            "hello_pending": self.hello_pending,
            "last_rx_s": self.last_rx_s,
            "last_onboard_time_s": self.last_onboard_time_s,
            "commands": {"next_cmd_seq": self.commands.next_seq,
                         "stages_entered": dict(self.commands.counts),
                         "unmatched_verifications": self.commands.unmatched_verifications,
                         "queued": [r.to_dict() for r in self.commands.queued()],
                         "in_flight": [r.to_dict() for r in self.commands.in_flight()]},
        }


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else repr(value)[:200])


_HANDLERS: dict[Kind, Callable[[MissionControl, Envelope, float], None]] = {
    Kind.TELEMETRY: MissionControl._on_telemetry,
    Kind.EVENT: MissionControl._on_event,
    Kind.VERIFICATION: MissionControl._on_verification,
    Kind.RESULT: MissionControl._on_result,
    Kind.HELLO: MissionControl._on_hello,
}
DOWNLINK_KINDS = tuple(_HANDLERS)
