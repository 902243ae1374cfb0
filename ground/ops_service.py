"""The ops API, server side: msgpack requests from the CLI and scripts, answered.

Requests are maps with an ``op``; replies always carry ``ok``, and on refusal an
``error`` (the reason) plus whatever helps fix it (``valid`` choices, ``expected``).

=============  ==========================================  ================================
op             request fields                              reply (ok)
=============  ==========================================  ================================
``cmd``        ``name``, ``args`` (map)                    ``cmd_seq``, ``stage``, ``reason``,
                                                           ``command`` (the record)
``cmd_status`` ``cmd_seq``                                 ``command`` (the command record)
``cancel``     ``cmd_seq``                                 ``command``
``status``     -                                           ``link``, ``flight``, ``queue`` ...
``stats``      -                                           ``records_archived``, counters
``dictionary`` -                                           ``dictionary`` (exported JSON)
``ping``       -                                           -
``stop``       -                                           - (the process then exits)
=============  ==========================================  ================================

No I/O here: :class:`OpsService` turns one decoded request into one reply, so the whole
API is testable without a socket. The process shell moves the bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgpack

from flightsw.errors import CommandRejected
from ground.mission_control import MissionControl
from ground.station import Station

Reply = dict[str, Any]


def pack(obj: Mapping[str, Any]) -> bytes:
    data: bytes = msgpack.packb(obj, use_bin_type=True, default=str)
    return data


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def refusal(error: str, **fields: Any) -> Reply:
    return {"ok": False, "error": error, **fields}


class OpsService:
    """Answers ops requests from the state of mission control and the station."""

    def __init__(self, mission: MissionControl, station: Station,
                 extra_status: Callable[[], dict[str, Any]] | None = None) -> None:
        self.mission = mission
        self.station = station
        self._extra_status = extra_status or dict
        self.stop_requested = False
        self.requests = 0
        self.refused = 0
        self._ops: dict[str, Callable[[Mapping[str, Any], float, float], Reply]] = {
            "cmd": self._cmd, "cmd_status": self._cmd_status, "cancel": self._cancel,
            "status": self._status, "stats": self._stats, "dictionary": self._dictionary,
            "ping": self._ping, "stop": self._stop,
        }

    def handle_bytes(self, data: bytes, now_utc_s: float, now_mono_s: float) -> bytes:
        """One request frame in, one reply frame out; never raises for a bad request."""
        try:
            request = unpack(data)
        except (ValueError, TypeError, msgpack.UnpackException) as exc:
            self.requests += 1
            self.refused += 1
            return pack(refusal("request is not msgpack", detail=type(exc).__name__))
        return pack(self.handle(request, now_utc_s, now_mono_s))

    def handle(self, request: Any, now_utc_s: float, now_mono_s: float) -> Reply:
        self.requests += 1
        op = request.get("op") if isinstance(request, Mapping) else None
        handler = self._ops.get(op) if isinstance(op, str) else None
        if handler is None:
            reply = refusal("unknown op", got=repr(op)[:40], valid=sorted(self._ops))
        else:
            reply = handler(request, now_utc_s, now_mono_s)
        if not reply.get("ok"):
            self.refused += 1
        return reply

    # --- commanding -----------------------------------------------------------------
    def _cmd(self, req: Mapping[str, Any], now_utc_s: float, _mono: float) -> Reply:
        try:
            rec = self.mission.submit(req.get("name"), req.get("args", {}), now_utc_s)
        except CommandRejected as exc:
            return refusal(exc.reason, **_plain_details(exc.details))
        return {"ok": True, "cmd_seq": rec.cmd_seq, "stage": rec.stage.value,
                "reason": rec.reason, "command": rec.to_dict()}

    def _cmd_status(self, req: Mapping[str, Any], _utc: float, _mono: float) -> Reply:
        cmd_seq = req.get("cmd_seq")
        rec = self.mission.commands.get(cmd_seq) if isinstance(cmd_seq, int) else None
        if rec is None:
            return refusal("unknown command sequence number", got=repr(cmd_seq)[:40])
        return {"ok": True, "command": rec.to_dict()}

    def _cancel(self, req: Mapping[str, Any], now_utc_s: float, _mono: float) -> Reply:
        cmd_seq = req.get("cmd_seq")
        rec = self.mission.cancel(cmd_seq, now_utc_s) if isinstance(cmd_seq, int) else None
        if rec is None:
            return refusal("no queued command with that sequence number",
                           got=repr(cmd_seq)[:40])
        return {"ok": True, "command": rec.to_dict()}

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
                           "downlink_duplicates": m["downlink_seq"]["duplicates"]},
                "last_rx_s": m["last_rx_s"], "last_onboard_time_s": m["last_onboard_time_s"],
                "ops": {"requests": self.requests, "refused": self.refused}, **extra}

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
