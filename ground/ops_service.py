"""The ops API, server side: msgpack requests from the CLI and scripts, answered.

Requests are maps with an ``op``; replies always carry ``ok``, and on refusal an
``error`` (the reason) plus whatever helps fix it (``valid`` choices, ``expected``).

==============  =========================================  ================================
op              request fields                             reply (ok)
==============  =========================================  ================================
``cmd`` *       ``name``, ``args`` (map), ``at_s``,        ``cmd_seq``, ``stage``, ``reason``,
                ``confirm`` (true for a hazardous one)     ``command`` (the record)
``cmd_status``  ``cmd_seq``                                ``command`` (the command record)
``cancel`` *    ``cmd_seq``                                ``command``
``hold`` *      ``cmd_seq``                                ``command`` (stage ``held``)
``release`` *   ``cmd_seq``                                ``command`` (stage ``queued``)
``queue``       -                                          ``queued``, ``held``, ``in_flight``
                                                           (lists of command records)
``rotate_key`` *  -                                        ``cmd_seq``, ``key_id``, ``command``
``status``      -                                          ``link``, ``flight``, ``queue`` ...
``stats``       -                                          ``records_archived``, counters
``dictionary``  -                                          ``dictionary`` (exported JSON)
``ping``        -                                          -
``stop`` *      -                                          - (the process then exits)
==============  =========================================  ================================

``*``: the op commands or stops, so the request must carry ``token`` (the ground's ops
token, ``RUN_DIR/ops.token``, 0600, new at every ground start; see
:mod:`ground.ops_token`). Without it, or with a wrong one, the reply is
``{"ok": false, "error": "this op needs the ops token ..."}``. Read-only ops need none.
A command record (``command``) has ``cmd_seq``, ``name``, ``args``, ``at_s``, ``stage``
(``queued``, ``held``, ``sent``, ``received``, ``accepted``, ``started``, ``completed``,
``failed``), ``reason``, ``stage_times_s`` (stage -> ground time), ``onboard_time_s``,
``failed_at`` and ``sends`` (times it went up: more than one after uplink retries).

No I/O here: :class:`OpsService` turns one decoded request into one reply, so the whole
API is testable without a socket. The process shell moves the bytes.

Requests are untrusted (anything that can reach the ops port can send one): a request
is refused for its size (:data:`MAX_REQUEST_BYTES`) before it is unpacked, for its
nesting depth (:data:`MAX_REQUEST_DEPTH`) before any field is looked at, and nothing
in a request is ever ``repr()``-ed unbounded. :meth:`OpsService.handle_bytes` never
raises: a ground bug becomes an ``internal error`` refusal, counted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeGuard

import msgpack

from flightsw.errors import CommandRejected, safe_repr
from flightsw.wire import nesting_depth
from ground import ops_token
from ground.command_log import WAITING, CommandRecord, Stage
from ground.mission_control import MAX_CMD_SEQ, MissionControl
from ground.station import Station

Reply = dict[str, Any]

MAX_REQUEST_BYTES = 64 * 1024
"""Largest ops request accepted; a command with its arguments is a few hundred bytes."""
MAX_REQUEST_DEPTH = 8
"""Deepest nesting of maps/lists in a request (``{"args": {...}}`` is 2)."""
_UNPACK_LIMITS = {"max_str_len": MAX_REQUEST_BYTES, "max_bin_len": MAX_REQUEST_BYTES,
                  "max_array_len": 4096, "max_map_len": 1024, "max_ext_len": 0}


def pack(obj: Mapping[str, Any]) -> bytes:
    """A reply as msgpack; odd values become text. Falls back to a plain refusal."""
    try:
        data: bytes = msgpack.packb(obj, use_bin_type=True, default=safe_repr)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        data = msgpack.packb({"ok": False, "error": "reply not encodable",
                              "detail": type(exc).__name__}, use_bin_type=True)
    return data


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def unpack_request(data: bytes) -> Any:
    """Bounded unpacking of an untrusted request; raises ValueError saying why not."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError("request is not bytes")
    if len(data) > MAX_REQUEST_BYTES:
        raise ValueError(f"request too large ({len(data)} bytes, limit {MAX_REQUEST_BYTES})")
    try:
        obj = msgpack.unpackb(bytes(data), raw=False, strict_map_key=False,
                              **_UNPACK_LIMITS)
    except msgpack.ExtraData as exc:
        raise ValueError("request is more than one msgpack object") from exc
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError,
            MemoryError) as exc:
        raise ValueError(f"request is not msgpack ({type(exc).__name__})") from exc
    if nesting_depth(obj, MAX_REQUEST_DEPTH) > MAX_REQUEST_DEPTH:
        raise ValueError(f"request nested deeper than {MAX_REQUEST_DEPTH}")
    return obj


def refusal(error: str, **fields: Any) -> Reply:
    return {"ok": False, "error": error, **fields}


class OpsService:
    """Answers ops requests from the state of mission control and the station."""

    def __init__(self, mission: MissionControl, station: Station,
                 extra_status: Callable[[], dict[str, Any]] | None = None,
                 token: str | None = None) -> None:
        self.mission = mission
        self.token = token
        """None: no token configured (in-process use); the ground process always sets one."""
        self.unauthorized = 0
        self.station = station
        self._extra_status = extra_status or dict
        self.stop_requested = False
        self.requests = 0
        self.refused = 0
        self.internal_errors = 0
        self._ops: dict[str, Callable[[Mapping[str, Any], float, float], Reply]] = {
            "cmd": self._cmd, "cmd_status": self._cmd_status, "cancel": self._cancel,
            "status": self._status, "stats": self._stats, "dictionary": self._dictionary,
            "ping": self._ping, "stop": self._stop, "hold": self._hold,
            "release": self._release, "queue": self._queue, "rotate_key": self._rotate_key,
        }

    def handle_bytes(self, data: bytes, now_utc_s: float, now_mono_s: float) -> bytes:
        """One request frame in, one reply frame out; never raises."""
        try:
            request = unpack_request(data)
        except ValueError as exc:
            self.requests += 1
            self.refused += 1
            return pack(refusal("request refused", detail=str(exc)))
        return pack(self.handle(request, now_utc_s, now_mono_s))

    def handle(self, request: Any, now_utc_s: float, now_mono_s: float) -> Reply:
        """Answer one decoded request; never raises (a bug is an ``internal error``)."""
        self.requests += 1
        try:
            if not isinstance(request, Mapping):
                reply = refusal("request must be a map with an 'op'",
                                got=type(request).__name__)
            else:
                op = request.get("op")
                handler = self._ops.get(op) if isinstance(op, str) else None
                if handler is None:
                    reply = refusal("unknown op", got=safe_repr(op), valid=sorted(self._ops))
                elif (op in TOKEN_OPS and self.token is not None
                      and not ops_token.matches(self.token, request.get("token"))):
                    self.unauthorized += 1
                    reply = refusal(f"this op needs the ops token (the ground writes it to "
                                    f"RUN_DIR/{ops_token.TOKEN_FILE} at start)", op=op)
                else:
                    reply = handler(request, now_utc_s, now_mono_s)
        except Exception as exc:  # defence in depth: the fuzz tests look for these
            self.internal_errors += 1
            reply = refusal("internal error handling the request",
                            detail=f"{type(exc).__name__}: {safe_repr(exc, 200)}")
        if not reply.get("ok"):
            self.refused += 1
        return reply

    # --- commanding -----------------------------------------------------------------
    def _cmd(self, req: Mapping[str, Any], now_utc_s: float, _mono: float) -> Reply:
        try:
            rec = self.mission.submit(req.get("name"), req.get("args", {}), now_utc_s,
                                      req.get("at_s"), confirm=req.get("confirm") is True)
        except CommandRejected as exc:
            return refusal(exc.reason, **_plain_details(exc.details))
        return {"ok": True, "cmd_seq": rec.cmd_seq, "stage": rec.stage.value,
                "reason": rec.reason, "command": rec.to_dict()}

    def _cmd_status(self, req: Mapping[str, Any], _utc: float, _mono: float) -> Reply:
        cmd_seq = req.get("cmd_seq")
        rec = self.mission.commands.get(cmd_seq) if _is_cmd_seq(cmd_seq) else None
        if rec is None:
            return refusal("unknown command sequence number", got=safe_repr(cmd_seq))
        return {"ok": True, "command": rec.to_dict()}

    def _cancel(self, req: Mapping[str, Any], now_utc_s: float, _mono: float) -> Reply:
        """Withdraw a command still at the ground (queued or held). A refusal says
        whether the command is unknown or already on its way (``stage``), so the
        operator knows whether it may still execute."""
        return self._move(req, now_utc_s, WAITING, self.mission.cancel)

    def _hold(self, req: Mapping[str, Any], now_utc_s: float, _mono: float) -> Reply:
        return self._move(req, now_utc_s, (Stage.QUEUED,), self.mission.hold)

    def _release(self, req: Mapping[str, Any], now_utc_s: float, _mono: float) -> Reply:
        return self._move(req, now_utc_s, (Stage.HELD,), self.mission.release)

    def _move(self, req: Mapping[str, Any], now_utc_s: float, allowed: tuple[Stage, ...],
              move: Callable[[int, float], CommandRecord | None]) -> Reply:
        """Cancel, hold or release: the command must be in one of the ``allowed`` stages."""
        cmd_seq = req.get("cmd_seq")
        if not _is_cmd_seq(cmd_seq):
            return refusal("a command sequence number is an integer >= 0",
                           got=safe_repr(cmd_seq))
        rec = self.mission.commands.get(cmd_seq)
        if rec is None:
            return refusal("unknown command", cmd_seq=cmd_seq,
                           next_cmd_seq=self.mission.commands.next_seq)
        if rec.stage not in allowed:
            why = (f"not {'/'.join(s.value for s in allowed)}: it is {rec.stage.value}"
                   if rec.stage in WAITING else _not_waiting(rec.stage))
            return refusal(why, cmd_seq=cmd_seq, stage=rec.stage.value,
                           command=rec.to_dict())
        moved = move(cmd_seq, now_utc_s)
        if moved is None:  # not reachable: checked above
            return refusal("not done", cmd_seq=cmd_seq)
        return {"ok": True, "command": moved.to_dict()}

    def _queue(self, _req: Mapping[str, Any], _utc: float, _mono: float) -> Reply:
        log = self.mission.commands
        return {"ok": True, "queued": [r.to_dict() for r in log.queued()],
                "held": [r.to_dict() for r in log.held()],
                "in_flight": [r.to_dict() for r in log.in_flight()]}

    def _rotate_key(self, _req: Mapping[str, Any], now_utc_s: float, _mono: float) -> Reply:
        try:
            rec = self.mission.rotate_key(now_utc_s)
        except (CommandRejected, ValueError) as exc:
            return refusal(f"cannot rotate the uplink key: {exc}")
        return {"ok": True, "cmd_seq": rec.cmd_seq, "key_id": rec.args["key_id"],
                "command": rec.to_dict()}

    # --- reporting ------------------------------------------------------------------
    def _status(self, _req: Mapping[str, Any], _utc: float, now_mono_s: float) -> Reply:
        m = self.mission.snapshot()
        extra = self._extra_status()
        uplink = self.mission.uplink_state(self.station.uplink_open,
                                           bool(extra.get("flight_connected", True)))
        return {"ok": True, "link": self.station.snapshot(now_mono_s), "uplink": uplink,
                "dictionary": m["dictionary"],
                "queue": m["commands"]["queued"], "in_flight": m["commands"]["in_flight"],
                "counts": {"frames_received": m["frames_received"],
                           "decode_errors": m["decode_errors"],
                           "dropped_out_of_contact":
                               self.station.counters.downlink_dropped_los,
                           "records": m["records"],
                           "downlink_missing": m["downlink_seq"]["missing"],
                           "downlink_duplicates": m["downlink_seq"]["duplicates"],
                           "downlink_rerequested": m["downlink_seq"]["rerequested"],
                           "downlink_evicted": m["downlink_seq"]["evicted"],
                           "acks_sent": m["acks_sent"],
                           "quarantined":
                               self.mission.archive.stats()["records_quarantined"]},
                "last_rx_s": m["last_rx_s"], "last_onboard_time_s": m["last_onboard_time_s"],
                "held": m["commands"]["held"], "uplink_keys": m["uplink"],
                "ops": {"requests": self.requests, "refused": self.refused,
                        "unauthorized": self.unauthorized,
                        "internal_errors": self.internal_errors}, **extra}

    def _stats(self, _req: Mapping[str, Any], _utc: float, _mono: float) -> Reply:
        """Counters only, so two replies are equal exactly when nothing happened between
        them (how a launcher tells that the ground has archived everything)."""
        m = self.mission.snapshot()
        return {"ok": True, "records_archived": sum(m["records"].values()),
                "frames_received": m["frames_received"],
                "decode_errors": m["decode_errors"],
                "dropped_out_of_contact": self.station.counters.downlink_dropped_los,
                "downlink_missing": m["downlink_seq"]["missing"],
                "downlink_duplicates": m["downlink_seq"]["duplicates"],
                "station": self.station.counters.as_dict(), "mission": m,
                "archive": self.mission.archive.stats()}

    def _dictionary(self, _req: Mapping[str, Any], _utc: float, _mono: float) -> Reply:
        return {"ok": True, "dictionary": self.mission.dictionary.to_json()}

    def _ping(self, _req: Mapping[str, Any], _utc: float, _mono: float) -> Reply:
        return {"ok": True}

    def _stop(self, _req: Mapping[str, Any], _utc: float, _mono: float) -> Reply:
        self.stop_requested = True
        return {"ok": True}


TOKEN_OPS = frozenset({"cmd", "cancel", "hold", "release", "rotate_key", "stop"})
"""Ops that command the spacecraft or stop the ground: they need the ops token."""


def _not_waiting(stage: Stage) -> str:
    return ("already finished" if stage.terminal
            else "already sent to the spacecraft; it can no longer be held or cancelled")


def _is_cmd_seq(value: Any) -> TypeGuard[int]:
    return (isinstance(value, int) and not isinstance(value, bool)
            and 0 <= value <= MAX_CMD_SEQ)


def _plain_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """Refusal details as msgpack-safe values (tuples become lists, the rest text)."""
    out: dict[str, Any] = {}
    for key, value in details.items():
        if isinstance(value, (list, tuple)):
            out[key] = [v if isinstance(v, (str, int, float, bool)) else str(v)
                        for v in value]
        elif value is None or isinstance(value, (str, int, float, bool)):
            out[key] = value
        else:
            out[key] = str(value)
    return out
