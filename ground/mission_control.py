"""Mission control: what the ground does with each frame, and what it sends up.

The core of the ground process, without sockets or clocks (times come in as arguments):

- every downlink frame is decoded with the shared codec; one that does not decode is
  counted, logged and archived as a link error, never raised;
- every record is archived (telemetry one row per record, events, every verification
  stage, data products, HELLOs; realtime or played back) and its downlink sequence
  number accounted for (gaps, late arrivals, duplicates); a record whose body breaks
  its kind's schema is quarantined alone, with the reason;
- commands are validated against the dictionary before they are queued, wait in the
  command log until the uplink is open *and* the flight's dictionary hash is known to
  match ours, then go up with their ``cmd_seq`` as the envelope sequence number;
- at every AOS (and when the executive reconnects) the ground sends HELLO with its
  dictionary hash. A flight HELLO with a different hash makes every waiting and every
  new command fail at the ground with that reason - the ground will not command a
  spacecraft whose dictionary it does not share;
- the flight's HELLO also names its boot (``boot_id``, boot time) and whether its
  numbering went on from the last boot: only a boot that restarted its numbering starts
  a new accounting epoch, so gap accounting stays exact across executive resets;
- a record whose number was already received is a duplicate (a retransmission, or the
  link duplicated it): counted and dropped, never archived twice; the numbers the
  spacecraft reports evicted (``link.records_evicted``) are accounted as evicted;
- while the uplink is open, what arrived is acknowledged (``ACK``, at most every
  :data:`ACK_PERIOD_S`): the received ranges, cumulative and selective; the holes
  between them are the re-request.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

from flightsw.dictionary import Dictionary
from flightsw.errors import CommandRejected, WireError, safe_repr
from flightsw.link import EVICTION_EVENT
from flightsw.messages import MAX_ACK_RANGES, AckBody, HelloBody
from flightsw.uplink_auth import GROUND_SOURCE
from flightsw.wire import Envelope, Kind, Sequencer, encode, try_decode
from ground.archive import REALTIME_MAX_AGE_S
from ground.archive_store import RecordStore
from ground.command_log import (
    FLIGHT_STAGES,
    MAX_SENDS,
    RETRY_AFTER_S,
    WAITING,
    CommandLog,
    CommandRecord,
    Stage,
)
from ground.downlink_seq import Arrival, DownlinkSequence
from ground.errors import GroundError
from ground.uplink_keys import UplinkKeys

log = logging.getLogger("ground.mission_control")

SOURCE = GROUND_SOURCE
"""The source the ground's frames carry; reports for other sources' commands are not ours."""
ACK_PERIOD_S = 1.0
"""At most one acknowledgement per this many ground-clock seconds (the uplink is slow)."""
HELLO_RETRY_S = 5.0
"""While in contact without the flight's HELLO, say HELLO again this often (it answers)."""
LOG_FIRST_ERRORS = 20
"""Decode errors logged one by one; after that only every 1000th (all are counted)."""

ROTATE_COMMAND = "auth.key_rotate"
KEY_POINT = "auth.key_id"
MAX_CMD_SEQ = (1 << 63) - 1
"""Command sequence numbers are envelope sequence numbers: [0, 2**63)."""
MAX_ERROR_REASONS = 64
OTHER_REASONS = "(other reasons)"
_FLIGHT_STAGE_NAMES = frozenset(s.value for s in FLIGHT_STAGES)


class BadBody(GroundError):
    """A decoded downlink record whose body does not follow its kind's schema."""


SendFrame = Callable[[bytes], bool]
"""Hands one uplink frame to the station; False if it cannot take it now (retry later)."""


class HashState:
    UNKNOWN = "unknown"  # no flight HELLO since the executive (re)connected
    MATCH = "match"
    MISMATCH = "mismatch"


class MissionControl:
    def __init__(self, dictionary: Dictionary, archive: RecordStore,
                 uplink: UplinkKeys | None = None) -> None:
        self.dictionary = dictionary
        self.archive = archive
        self.uplink = uplink or UplinkKeys.ephemeral()
        """Seals every uplink frame (HELLO, ACK, commands) under the current key."""
        self.retries = 0  # commands sent again for want of any report
        self.commands = CommandLog(next_seq=archive.next_cmd_seq())
        restored = archive.unfinished_commands()
        self.commands.restore(restored)
        if restored:
            log.info("restored %d unfinished commands from the archive (%d queued)",
                     len(restored), sum(r.stage is Stage.QUEUED for r in restored))
        self.downlink = DownlinkSequence()
        self.downlink.restore(archive.downlink_seqs())  # a restart archives nothing twice
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
        self.acks_sent = 0
        self.duplicates_dropped = 0
        self.flight_boot: tuple[float, int] | None = None  # (boot time, boot id) talking now
        self.flight_boots_seen = 0
        self._received_since_ack = 0
        self._ack_sent_s: float | None = None
        self._ack_seq = Sequencer(SOURCE)
        self.last_rx_s: float | None = None
        self.last_onboard_time_s: float | None = None
        archive.set_meta("ground_dictionary_hash", dictionary.hash)

    # --- downlink -------------------------------------------------------------------
    def on_frame(self, frame: bytes, rx_s: float, wall_s: float | None = None) -> None:
        """Take one frame from the station. Never raises for anything in the frame.

        ``rx_s`` is the ground-clock receive time (sim or wall), ``wall_s`` the wall-clock
        one (archived for people, ignored when runs are compared). A frame that decodes
        but whose body is out of range (a ``cmd_seq`` of 2**64 - 1, text where a number
        belongs) is quarantined alone: counted under its reason, kept as a link error.
        """
        self.frames_received += 1
        self.last_rx_s = rx_s
        env = try_decode(frame)
        if isinstance(env, WireError):
            self._decode_error(frame, env.reason, str(env), rx_s, wall_s)
            return
        handler = _HANDLERS.get(env.kind)
        if handler is None:
            self.unexpected_kinds += 1
            self._decode_error(frame, "not a downlink kind",
                               f"{env.kind.value} is not a downlink kind", rx_s, wall_s)
            return
        if env.kind is Kind.HELLO:
            self._note_boot(env)  # before its number is judged: it may start an epoch
        self._received_since_ack += 1
        # even a bad body used up its sequence number
        arrival = self.downlink.observe(env.seq)
        if arrival is Arrival.DUPLICATE:
            self.duplicates_dropped += 1  # sent again or duplicated by the link: had it
            return
        realtime = arrival is not Arrival.LATE and rx_s - env.time_s <= REALTIME_MAX_AGE_S
        try:
            handler(self, env, rx_s, wall_s, realtime)
        except BadBody as exc:
            self.bad_bodies += 1
            self._decode_error(frame, f"bad {env.kind.value} body: {exc.reason}",
                               f"bad {env.kind.value} body: {exc}", rx_s, wall_s, env)
            return
        except Exception as exc:  # a ground bug must not cost the frames behind this one
            self.bad_bodies += 1
            self._decode_error(frame, f"bad {env.kind.value} body: ground could not "
                               f"handle it ({type(exc).__name__})",
                               f"bad {env.kind.value} body: {type(exc).__name__}: "
                               f"{safe_repr(exc, 200)}", rx_s, wall_s, env)
            return
        self.records[env.kind.value] += 1
        self.last_onboard_time_s = env.time_s

    def _decode_error(self, frame: bytes, reason: str, detail: str, rx_s: float,
                      wall_s: float | None = None, env: Envelope | None = None) -> None:
        """Count a frame that cannot be archived: one that did not decode is a link
        error; a record that decoded but breaks its kind's schema is quarantined (with
        its number and times), alone - its neighbours are archived as usual."""
        self.decode_errors += 1
        if (reason in self.decode_error_reasons
                or len(self.decode_error_reasons) < MAX_ERROR_REASONS):
            self.decode_error_reasons[reason] = self.decode_error_reasons.get(reason, 0) + 1
        else:  # bounded: a hostile sender could make up a new reason every frame
            self.decode_error_reasons[OTHER_REASONS] = (
                self.decode_error_reasons.get(OTHER_REASONS, 0) + 1)
        if env is None:
            self.archive.add_link_error(rx_s, frame, detail, wall_s)
        else:
            self.archive.add_quarantine(env.kind.value, env.seq, env.time_s, rx_s, reason,
                                        f"{detail}; frame head {bytes(frame[:64]).hex()}",
                                        wall_s)
        if self.decode_errors <= LOG_FIRST_ERRORS or self.decode_errors % 1000 == 0:
            log.warning("downlink frame rejected (%d so far): %s", self.decode_errors, detail)

    def _on_telemetry(self, env: Envelope, rx_s: float, wall_s: float | None,
                      realtime: bool) -> None:
        points = env.body.get("points")
        if not isinstance(points, Mapping):
            raise BadBody("points must be a map", got=type(points).__name__)
        self.telemetry_points += self.archive.add_telemetry(env.seq, env.time_s, rx_s,
                                                            points, wall_s, realtime)
        key_id = points.get(KEY_POINT)
        if isinstance(key_id, int) and key_id in self.uplink.pending:
            # the flight uses a key we only hold as pending: its completion report went
            # to an earlier ground process (we restarted mid-rotation); switch now, or be
            # locked out when the old key's grace runs out
            self.uplink.confirm(key_id)
            log.warning("flight housekeeping says uplink key %d is in use: switching to it",
                        key_id)

    def _note_boot(self, env: Envelope) -> None:
        """A flight HELLO from a boot newer than the one we talk to: talk to it, and if
        its numbering restarted, start a new accounting epoch. A HELLO from an older
        boot (played back from its recorder) changes nothing."""
        try:
            hello = HelloBody.from_body(env.body)
        except WireError:
            return  # the HELLO handler reports the bad body
        key = (hello.boot_mission_time_s, hello.boot_id)
        if self.flight_boot is not None and key <= self.flight_boot:
            return
        self._number_above(hello.uplink_seq_top)
        first = self.flight_boot is None
        self.flight_boot = key
        self.flight_boots_seen += 1
        if not hello.seq_continued and not first:
            log.warning("flight boot %d restarted its downlink numbering at %d: new "
                        "accounting epoch", hello.boot_id, hello.first_seq)
            self.downlink.new_epoch()
        elif not first:
            log.info("flight boot %d continues the downlink numbering at %d",
                     hello.boot_id, hello.first_seq)

    def _number_above(self, flight_top: int) -> None:
        """The flight has taken commands up to ``flight_top``: a ground numbering at or
        below it (it started on a new archive) would see every command refused as a
        replay. New commands are numbered above it; queued ones at or below it fail
        here with the reason (submit them again), never silently."""
        if not isinstance(flight_top, int) or flight_top < self.commands.next_seq:
            return
        log.warning("the flight has taken commands up to #%d, the ground numbers from "
                    "#%d: numbering on from #%d", flight_top, self.commands.next_seq,
                    flight_top + 1)
        self.commands.next_seq = min(flight_top + 1, MAX_CMD_SEQ)
        for rec in self.commands.queued() + self.commands.held():
            if rec.cmd_seq <= flight_top:
                self._fail(rec, f"numbered #{rec.cmd_seq}, but the spacecraft has taken "
                           f"commands up to #{flight_top} (the ground's numbering was "
                           "behind): submit it again", self.last_rx_s or 0.0)

    def _on_event(self, env: Envelope, rx_s: float, wall_s: float | None,
                  realtime: bool) -> None:
        b = env.body
        args = b.get("args")
        if b.get("name") == EVICTION_EVENT and isinstance(args, Mapping):
            self._on_evicted(args.get("ranges"))
        self.archive.add_event(env.seq, env.time_s, rx_s, _text(b.get("name")),
                               _text(b.get("severity")), _text(b.get("text"), 2000),
                               args if isinstance(args, Mapping) else {}, wall_s,
                               realtime)

    def _on_evicted(self, ranges: Any) -> None:
        if not isinstance(ranges, list):
            raise BadBody("link.records_evicted ranges must be a list", got=safe_repr(ranges))
        for r in ranges[:1024]:
            if (not isinstance(r, list) or len(r) != 2
                    or not all(isinstance(v, int) and not isinstance(v, bool) for v in r)
                    or not 0 <= r[0] <= r[1] <= MAX_CMD_SEQ):
                raise BadBody("an evicted range must be [first, last]", got=safe_repr(r))
            self.downlink.evicted(r[0], r[1])

    def _on_verification(self, env: Envelope, rx_s: float, wall_s: float | None,
                         realtime: bool) -> None:
        b = env.body
        cmd_seq, stage_text = b.get("cmd_seq"), b.get("stage")
        if not isinstance(cmd_seq, int) or isinstance(cmd_seq, bool):
            raise BadBody("cmd_seq must be an integer", got=safe_repr(cmd_seq))
        if not 0 <= cmd_seq <= MAX_CMD_SEQ:
            raise BadBody("cmd_seq out of range [0, 2**63)", got=safe_repr(cmd_seq))
        if not isinstance(stage_text, str) or stage_text not in _FLIGHT_STAGE_NAMES:
            raise BadBody("stage must be one of " + "/".join(sorted(_FLIGHT_STAGE_NAMES)),
                          got=safe_repr(stage_text))
        name, reason = _text(b.get("name")), _text(b.get("reason"), 2000)
        self.archive.add_verification(env.seq, env.time_s, rx_s, cmd_seq, name, stage_text,
                                      reason, wall_s, realtime)
        if b.get("source", GROUND_SOURCE) != GROUND_SOURCE:
            return  # an onboard source's command (a sequence step): archived, not ours
        rec = self.commands.verify(cmd_seq, Stage(stage_text), reason, rx_s, env.time_s)
        if rec is not None:
            self.archive.put_command(rec)
            if rec.name == ROTATE_COMMAND and stage_text == Stage.COMPLETED.value:
                key_id = rec.args.get("key_id")
                if isinstance(key_id, int) and self.uplink.confirm(key_id):
                    log.info("uplink key %d confirmed by the flight: sealing under it",
                             key_id)
        else:
            log.warning("verification for unknown command #%d (%s %s)", cmd_seq, name,
                        stage_text)

    def _on_result(self, env: Envelope, rx_s: float, wall_s: float | None,
                   realtime: bool) -> None:
        self.archive.add_product(env.seq, env.time_s, rx_s, env.body, wall_s, realtime)

    def _on_hello(self, env: Envelope, rx_s: float, wall_s: float | None,
                  realtime: bool) -> None:
        flight_hash = _text(env.body.get("dictionary_hash"))
        self.flight_hash = flight_hash
        self.flight_version = _text(env.body.get("dictionary_version"))
        matches = flight_hash == self.dictionary.hash
        self.archive.add_hello("down", env.seq, env.time_s, rx_s, flight_hash,
                               self.flight_version, matches, wall_s)
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
        """The executive (re)connected: it may have restarted with a different
        dictionary, so ask for its HELLO again (which also says whether its numbering
        went on: a reconnection alone is no reason to forget what is missing)."""
        self.hash_state = HashState.UNKNOWN
        self.hello_pending = True

    # --- uplink ---------------------------------------------------------------------
    def submit(self, name: object, args: object, now_s: float,
               at_s: object = None, *, confirm: bool = False) -> CommandRecord:
        """Validate and queue a command; raises CommandRejected (nothing queued) if bad.
        ``at_s``: a time tag (mission time, UTC s): the spacecraft stores the command and
        runs it then, in contact or not. A command the dictionary marks ``hazardous``
        is refused unless ``confirm`` is True.

        Takes untrusted values (straight from an ops request): validation checks types.
        """
        clean = self.dictionary.validate_command(name, args)
        spec = self.dictionary.commands[str(name)]
        if spec.hazardous and confirm is not True:
            raise CommandRejected(f"{spec.name} is hazardous: it needs explicit "
                                  "confirmation (--confirm, or confirm: true)",
                                  command=spec.name, hazardous=True)
        if at_s is not None and (isinstance(at_s, bool) or not isinstance(at_s, (int, float))
                                 or not math.isfinite(at_s) or at_s <= 0):
            raise CommandRejected("at_s must be a mission time in UTC seconds",
                                  got=safe_repr(at_s))
        rec = self.commands.submit(str(name), clean, now_s,
                                   None if at_s is None else float(at_s))
        if self.hash_state == HashState.MISMATCH:
            self._fail(rec, self.mismatch_reason(), now_s)
        else:
            self.archive.put_command(rec)
        return rec

    def cancel(self, cmd_seq: int, now_s: float) -> CommandRecord | None:
        """Withdraw a command still waiting (queued or held); None if it is not waiting."""
        rec = self.commands.get(cmd_seq)
        if rec is None or rec.stage not in WAITING:
            return None
        self._fail(rec, "cancelled by the operator before it was sent", now_s)
        return rec

    def hold(self, cmd_seq: int, now_s: float) -> CommandRecord | None:
        """Keep a queued command at the ground until released; None if not queued."""
        return self._restage(cmd_seq, Stage.QUEUED, self.commands.hold, now_s)

    def release(self, cmd_seq: int, now_s: float) -> CommandRecord | None:
        """A held command joins the queue again (goes up at the next chance)."""
        return self._restage(cmd_seq, Stage.HELD, self.commands.release, now_s)

    def _restage(self, cmd_seq: int, from_stage: Stage,
                 move: Callable[[CommandRecord, float], None],
                 now_s: float) -> CommandRecord | None:
        """Move a command waiting at the ground in ``from_stage`` (None if it is not
        there), and archive its new stage."""
        rec = self.commands.get(cmd_seq)
        if rec is None or rec.stage is not from_stage:
            return None
        move(rec, now_s)
        self.archive.put_command(rec)
        return rec

    def rotate_key(self, now_s: float) -> CommandRecord:
        """Start an uplink key rotation: queue ``auth.key_rotate`` with a new key wrapped
        under the current one; the ground switches when the flight completes it."""
        return self.submit(ROTATE_COMMAND, self.uplink.begin_rotation(), now_s,
                           confirm=True)

    def pump_uplink(self, send: SendFrame, uplink_open: bool, now_s: float,
                    stamp_s: float | None = None, link_s: float | None = None) -> int:
        """Send HELLO if due, then queued commands in order, then commands due a retry;
        return the commands sent. Every frame is sealed (:mod:`flightsw.uplink_auth`) and
        stamped ``stamp_s`` (the spacecraft time as the ground knows it, which the flight
        checks the frame's age against; default ``now_s``). ``link_s``: how far the
        downlink has come (the sim clock's newest record stamp, -inf before any; None:
        ``now_s``); a HELLO unanswered is said again once the link, not only the clock,
        is :data:`HELLO_RETRY_S` past it."""
        if not uplink_open:
            return 0
        stamp = now_s if stamp_s is None else stamp_s
        seal = self.uplink.seal

        def sealed(frame: bytes) -> bool:  # every frame leaves sealed
            return send(seal(frame))

        # on the sim clock the WORLD feed can run seconds ahead of the downlink, so the
        # answer is waited for on the link's time: on WORLD time a lagging link made a
        # second HELLO in one lockstep run and not in another (and an archive row)
        waited_s = (None if self._hello_sent_s is None else
                    (now_s if link_s is None else link_s) - self._hello_sent_s)
        if (self.hash_state == HashState.UNKNOWN and waited_s is not None
                and waited_s >= HELLO_RETRY_S):
            self.hello_pending = True  # ours or its answer may have been lost
        if self.hello_pending:
            body = {"dictionary_hash": self.dictionary.hash,
                    "dictionary_version": self.dictionary.version}
            env = self._hello_seq.make(Kind.HELLO, stamp, body)
            if not sealed(encode(env)):
                return 0
            self.hello_pending = False
            self._hello_sent_s = now_s
            self.hellos_sent += 1
            self.archive.add_hello("up", env.seq, now_s, now_s, self.dictionary.hash,
                                   self.dictionary.version, None)
        if not self._send_ack(sealed, now_s, stamp):
            return 0
        if self.hash_state != HashState.MATCH:
            return 0  # commands wait for the flight's HELLO (or fail on a mismatch)
        sent = 0
        self._note_unanswered(now_s)
        retries = self.commands.due_again(now_s)
        for rec in self.commands.queued() + retries:
            command: dict[str, Any] = {"name": rec.name, "args": rec.args}
            if rec.at_s is not None:
                command["at_s"] = rec.at_s
            frame = encode(Envelope(Kind.COMMAND, SOURCE, rec.cmd_seq, stamp, command))
            if not sealed(frame):
                break
            if rec.sends:
                self.retries += 1
                log.info("command #%d %s: no report after %d sends, sending it again",
                         rec.cmd_seq, rec.name, rec.sends)
            self.commands.mark_sent(rec, now_s)
            self.archive.put_command(rec)
            sent += 1
        return sent

    def _note_unanswered(self, now_s: float) -> None:
        """A command sent as often as allowed with no report at all: say so on its
        record (it stays ``sent``: it may have run, its reports may still come)."""
        for rec in self.commands.in_flight():
            if (rec.stage is Stage.SENT and rec.sends >= MAX_SENDS and not rec.reason
                    and rec.last_sent_s is not None
                    and now_s - rec.last_sent_s >= RETRY_AFTER_S):
                rec.reason = (f"no report from the spacecraft after {rec.sends} sends: it "
                              "may or may not have run (see exec.cmds_accepted)")
                self.archive.put_command(rec)
                log.warning("command #%d %s: %s", rec.cmd_seq, rec.name, rec.reason)

    def _send_ack(self, send: SendFrame, now_s: float, stamp_s: float) -> bool:
        """Acknowledge what arrived since the last acknowledgement (at most every
        :data:`ACK_PERIOD_S`), for the boot we talk to. Before any flight HELLO the boot
        is 0 (none: boots count from 1): the flight applies nothing and takes it to mean
        its HELLO was lost, and sends it again. False if the link would not take it (try
        again next turn)."""
        if not self._received_since_ack or (
                self._ack_sent_s is not None and 0 <= now_s - self._ack_sent_s < ACK_PERIOD_S):
            return True
        boot_id = 0 if self.flight_boot is None else self.flight_boot[1]
        # the newest ranges, and every other time the oldest (their holes are the ones
        # most overdue)
        body = AckBody(boot_id, self.downlink.ack_ranges(MAX_ACK_RANGES,
                                                         oldest=self.acks_sent % 2 == 1))
        if not send(self._ack_seq.pack(Kind.ACK, stamp_s, body.to_body())):
            return False
        self._ack_sent_s = now_s
        self._received_since_ack = 0
        self.acks_sent += 1
        return True

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
            "duplicates_dropped": self.duplicates_dropped,
            "acks_sent": self.acks_sent,
            "flight_boot_id": None if self.flight_boot is None else self.flight_boot[1],
            "flight_boots_seen": self.flight_boots_seen,
            "downlink_gaps": self.downlink.gap_ranges(),
            "hellos_sent": self.hellos_sent,
            "hello_pending": self.hello_pending,
            "last_rx_s": self.last_rx_s,
            "last_onboard_time_s": self.last_onboard_time_s,
            "uplink": {"key_id": self.uplink.current_id,
                       "pending_key_ids": sorted(self.uplink.pending),
                       "rotations": self.uplink.rotations, "retries": self.retries},
            "commands": {"next_cmd_seq": self.commands.next_seq,
                         "stages_entered": dict(self.commands.counts),
                         "unmatched_verifications": self.commands.unmatched_verifications,
                         "queued": [r.to_dict() for r in self.commands.queued()],
                         "held": [r.to_dict() for r in self.commands.held()],
                         "in_flight": [r.to_dict() for r in self.commands.in_flight()]},
        }


def _text(value: Any, max_chars: int = 200) -> str:
    """Untrusted text as archived text: strings bounded, anything else a safe repr."""
    if isinstance(value, str):
        return value[:max_chars]
    return "" if value is None else safe_repr(value, max_chars)


_HANDLERS: dict[Kind, Callable[[MissionControl, Envelope, float, float | None, bool],
                               None]] = {
    Kind.TELEMETRY: MissionControl._on_telemetry,
    Kind.EVENT: MissionControl._on_event,
    Kind.VERIFICATION: MissionControl._on_verification,
    Kind.RESULT: MissionControl._on_result,
    Kind.HELLO: MissionControl._on_hello,
}
DOWNLINK_KINDS = tuple(_HANDLERS)
