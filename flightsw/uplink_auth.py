"""Authenticated uplink: only the holder of a shared key can command the spacecraft, and
no frame runs twice.

Measured before this existed: a captured ``payload.restart`` frame replayed three times
ran three times; a year-old frame, a lower sequence number and a frame from an unknown
source ("mallory") were all accepted. Now every uplink frame (commands, and the ground's
HELLO and ACK) is sealed::

    0xA5 | key id (2 bytes, big-endian) | HMAC-SHA256 tag (16 bytes) | envelope

The tag (:mod:`flightsw.channel_auth`'s, over a direction byte, the key id and the
envelope) proves the frame came from a holder of key ``id`` and was not altered (a bit
flipped by the link is a bad tag, never a different command). The key id in the frame
lets a key be rotated by command while frames under the old one are still in flight.
The flight then checks, in this order, each failure counted under its reason and
reported by the event ``auth.frame_rejected``:

1. the header and the key id (``unauthenticated``, ``unknown_key``, ``retired_key``);
2. the tag (``bad_tag``), in constant time;
3. the envelope: one that does not decode goes on to the link's decoder, which counts
   and reports it (``exec.frame_rejected``) as for any undecodable frame;
4. the source: only ``ground`` commands over the link (``unknown_source``);
5. for commands, the age: one stamped more than :data:`MAX_FRAME_AGE_S` away from
   spacecraft time is refused (``stale``), so a recording from last year is worthless
   even if its sequence number is high;
6. for commands, the anti-replay window per source (a sliding bitmap as in IPsec/DTLS,
   RFC 4303 s. 3.4.3): a number at or below ``top - WINDOW`` is refused (``too_old``);
   one already seen is a ``duplicate``: not run again, but its verification reports are
   sent again (:func:`remember`), so a ground that retried a command whose replies were
   lost learns the outcome. The window is in the state record and survives a reset.

HELLO and ACK are authenticated but neither aged nor windowed: replaying one is
harmless (an old ACK only repeats what the ground held, and one for another boot is not
applied; a HELLO asks for our HELLO again), and a ground without the spacecraft's time
(a bench, a board before its first fix) still keeps the downlink acknowledged.

Key rotation (``auth.key_rotate``): the ground sends the new key wrapped under the key
the command is authenticated with (XOR with an HMAC-derived pad, plus a check value), so
the key never appears in clear on the link or in the ground's archive. The flight takes
it when the command completes and keeps accepting the old key for
:data:`KEY_GRACE_S` of spacecraft time; the ground switches once it sees ``completed``.
Uploaded keys live in the state record (written 0600), the provisioned ones in the key
directory (:mod:`flightsw.keyring`).

Pure: no files or clocks; the shell hands in the provisioned keys.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from flightsw import channel_auth
from flightsw.component import PERSIST, Component, Events, Handled, Tick, fixed
from flightsw.dictionary import Arg, ArgType, Command, Declarations, Event, Severity
from flightsw.dictionary import Telemetry as Tlm
from flightsw.errors import FlightError, safe_repr
from flightsw.messages import VerificationBody
from flightsw.wire import Envelope, Kind, try_decode

MAGIC = b"\xa5"  # not a msgpack fixarray (0x9x): an unsealed envelope is told at once
KEY_ID_BYTES = 2
HEADER_BYTES = len(MAGIC) + KEY_ID_BYTES
TO_FLIGHT = b"U"
GROUND_SOURCE = "ground"
"""The only source that commands over the link (the limit checker's commands are made
onboard and never cross it)."""
WINDOW = 64
"""Anti-replay window: how far below the highest number a late command may still run."""
MAX_FRAME_AGE_S = 1800.0
"""A frame stamped further than this from spacecraft time (either way) is refused. Wide
enough for a lockstep ground that lags by minutes; a year-old recording is far out."""
KEY_GRACE_S = 900.0
"""After a rotation the old key is still accepted this long (spacecraft time)."""
MAX_OUTCOMES = WINDOW
"""Verification outcomes remembered for duplicates (one window's worth)."""
MAX_REASONS = 16
WRAP_LABEL = b"aisat uplink key wrap"
CHECK_LABEL = b"aisat uplink key check"
CHECK_BYTES = 4

REASONS = ("unauthenticated", "unknown_key", "retired_key", "bad_tag", "unknown_source",
           "stale", "too_old", "duplicate")


def _direction(key_id: int) -> bytes:
    return TO_FLIGHT + key_id.to_bytes(KEY_ID_BYTES, "big")


def seal(key: bytes, key_id: int, envelope: bytes) -> bytes:
    """An encoded envelope as an authenticated uplink frame under key ``key_id``."""
    return (MAGIC + key_id.to_bytes(KEY_ID_BYTES, "big")
            + channel_auth.seal(key, _direction(key_id), envelope))


def peel(frame: bytes) -> bytes:
    """The envelope inside a sealed frame, unchecked (for observers and tests that read
    the uplink; the flight always checks, :func:`admit`)."""
    return frame[HEADER_BYTES + channel_auth.TAG_BYTES:] if frame[:1] == MAGIC else frame


def wrap_key(under: bytes, key_id: int, new_key: bytes) -> str:
    """``new_key`` as text only a holder of ``under`` can read: XOR with a pad derived
    from ``under`` and the new id (ids are never reused), then a check value."""
    pad = hmac.new(under, WRAP_LABEL + key_id.to_bytes(KEY_ID_BYTES, "big"),
                   hashlib.sha256).digest()
    check = hmac.new(new_key, CHECK_LABEL, hashlib.sha256).digest()[:CHECK_BYTES]
    return bytes(a ^ b for a, b in zip(new_key, pad, strict=True)).hex() + check.hex()


def unwrap_key(under: bytes, key_id: int, wrapped: str) -> bytes:
    """The key inside :func:`wrap_key`'s text; raises FlightError if it does not check."""
    try:
        raw = bytes.fromhex(wrapped)
    except ValueError as exc:
        raise FlightError("wrapped key is not hex") from exc
    if len(raw) != channel_auth.KEY_BYTES + CHECK_BYTES:
        raise FlightError(f"wrapped key must be {channel_auth.KEY_BYTES + CHECK_BYTES} bytes")
    pad = hmac.new(under, WRAP_LABEL + key_id.to_bytes(KEY_ID_BYTES, "big"),
                   hashlib.sha256).digest()
    key = bytes(a ^ b for a, b in zip(raw[:channel_auth.KEY_BYTES], pad, strict=True))
    check = hmac.new(key, CHECK_LABEL, hashlib.sha256).digest()[:CHECK_BYTES]
    if not hmac.compare_digest(check, raw[channel_auth.KEY_BYTES:]):
        raise FlightError("wrapped key does not check: wrong key or damaged")
    return key


# --- the anti-replay window --------------------------------------------------------------
def window_verdict(top: int, bitmap: int, seq: int) -> str:
    """``new``, ``duplicate`` or ``too_old`` for ``seq`` against a window whose highest
    number is ``top`` (-1: none yet); bit ``i`` of ``bitmap`` is number ``top - i``."""
    if seq > top:
        return "new"
    offset = top - seq
    if offset >= WINDOW:
        return "too_old"
    return "duplicate" if bitmap >> offset & 1 else "new"


def window_mark(top: int, bitmap: int, seq: int) -> tuple[int, int]:
    """The window after ``seq`` was taken (its verdict was ``new``)."""
    mask = (1 << WINDOW) - 1
    if seq > top:
        shift = seq - top
        bitmap = (bitmap << shift) & mask if shift < WINDOW else 0
        return seq, bitmap | 1
    return top, bitmap | (1 << (top - seq))


# --- the component -----------------------------------------------------------------------
@dataclass
class AuthState:
    provisioned: dict[int, bytes] = field(default_factory=dict)
    """Keys from the key directory (the shell loads them at boot; not in the record)."""
    uploaded: dict[int, str] = field(default_factory=dict, metadata=PERSIST)
    """Keys received by ``auth.key_rotate``, as hex, by id."""
    retired: dict[int, float] = field(default_factory=dict, metadata=PERSIST)
    """Key id -> spacecraft time after which frames under it are refused."""
    current_id: int = field(default=0, metadata=PERSIST)
    windows: dict[str, list[int]] = field(default_factory=dict, metadata=PERSIST)
    """Source -> ``[top, bitmap]``: the anti-replay window."""
    outcomes: list[list[Any]] = field(default_factory=list, metadata=PERSIST)
    """``[source, seq, name, [[stage, reason], ...]]`` of the last commands, oldest first."""
    rejected: dict[str, int] = field(default_factory=dict, metadata=PERSIST)
    """Frames refused, by reason (see :data:`REASONS`)."""
    admitted: int = 0
    last_reason: str = ""


def keys(st: AuthState, mission_time_s: float) -> dict[int, bytes]:
    """The keys frames are accepted under now (retired ones past their grace are not)."""
    out = dict(st.provisioned)
    for key_id, text in st.uploaded.items():
        out[key_id] = bytes.fromhex(text)
    return {k: v for k, v in out.items()
            if k not in st.retired or mission_time_s <= st.retired[k]}


def _reject(st: AuthState, code: str, detail: str, events: Events) -> None:
    if code in st.rejected or len(st.rejected) < MAX_REASONS:
        st.rejected[code] = st.rejected.get(code, 0) + 1
    st.last_reason = code
    events.append(("auth.frame_rejected", {"reason": code, "detail": detail}))


def admit(st: AuthState, frames: list[bytes],
          t: Tick) -> tuple[list[bytes], list[VerificationBody], Events]:
    """Check uplink frames. Returns the envelopes that passed (encoded, for the link to
    take), verification reports (``received`` for a new command, the remembered ones for
    a duplicate) and events. Never raises."""
    passed: list[bytes] = []
    reports: list[VerificationBody] = []
    events: Events = []
    now = t.mission_time_s
    for frame in frames:
        verdict = _open(st, frame, now, events)
        if verdict is None:
            continue
        env, inner = verdict
        if env is not None and env.kind is Kind.COMMAND:
            top, bitmap = st.windows.get(env.source, [-1, 0])
            seen = window_verdict(top, bitmap, env.seq)
            if seen == "too_old":
                _reject(st, "too_old", f"command #{env.seq} is below the anti-replay "
                        f"window (highest {top}, window {WINDOW})", events)
                continue
            if seen == "duplicate":
                _reject(st, "duplicate", f"command #{env.seq} already ran: not run "
                        "again, its verification sent again", events)
                reports += _remembered(st, env.source, env.seq)
                continue
            st.windows[env.source] = list(window_mark(top, bitmap, env.seq))
            name = env.body.get("name")
            reports.append(VerificationBody(
                env.seq, name if isinstance(name, str) else safe_repr(name, 60), "received",
                ""))
        st.admitted += 1
        passed.append(inner)
    return passed, reports, events


def _open(st: AuthState, frame: bytes, now: float,
          events: Events) -> tuple[Envelope | None, bytes] | None:
    if len(frame) < HEADER_BYTES + channel_auth.TAG_BYTES or frame[:1] != MAGIC:
        _reject(st, "unauthenticated", f"frame of {len(frame)} bytes carries no "
                "authentication header", events)
        return None
    key_id = int.from_bytes(frame[1:HEADER_BYTES], "big")
    key = keys(st, now).get(key_id)
    if key is None:
        retired = key_id in st.retired
        _reject(st, "retired_key" if retired else "unknown_key",
                f"key {key_id} is {'retired' if retired else 'not known onboard'}", events)
        return None
    inner = channel_auth.unseal(key, _direction(key_id), frame[HEADER_BYTES:])
    if isinstance(inner, str):
        _reject(st, "bad_tag", f"bad tag under key {key_id}: altered or forged", events)
        return None
    env = try_decode(inner)
    if not isinstance(env, Envelope):
        return None, inner  # authentic but undecodable: the link's decoder reports it
    if env.source != GROUND_SOURCE:
        _reject(st, "unknown_source", f"source {safe_repr(env.source, 40)} may not "
                "command over the link", events)
        return None
    if env.kind is Kind.COMMAND and abs(env.time_s - now) > MAX_FRAME_AGE_S:
        _reject(st, "stale", f"frame stamped {env.time_s - now:+.0f} s from spacecraft "
                f"time (limit {MAX_FRAME_AGE_S:g} s)", events)
        return None
    return env, inner


def remember(st: AuthState, source: str, seq: int, name: str,
             reports: list[VerificationBody]) -> None:
    """Keep a command's verification reports, to send again for a duplicate."""
    st.outcomes.append([source, seq, name, [[r.stage, r.reason] for r in reports]])
    del st.outcomes[:-MAX_OUTCOMES]


def _remembered(st: AuthState, source: str, seq: int) -> list[VerificationBody]:
    for src, s, name, stages in reversed(st.outcomes):
        if src == source and s == seq:
            return [VerificationBody(seq, name, stage, reason) for stage, reason in stages]
    return []  # ran too long ago to remember: the anti-replay event says it ran


def rotate(st: AuthState, args: dict[str, Any], t: Tick) -> Handled[AuthState]:
    """``auth.key_rotate``: take the new key (unwrapped under ``under``) and make it the
    current one; the old one stays valid for :data:`KEY_GRACE_S`."""
    new_id, under = int(args["key_id"]), int(args["under"])
    active = keys(st, t.mission_time_s)
    if under not in active:
        raise FlightError(f"key {under} is not active onboard")
    if new_id in active or new_id in st.retired or new_id <= max(active, default=0):
        raise FlightError(f"key id {new_id} must be new and above every active id")
    key = unwrap_key(active[under], new_id, str(args["wrapped"]))
    st.uploaded[new_id] = key.hex()
    for old in active:
        st.retired.setdefault(old, t.mission_time_s + KEY_GRACE_S)
    st.current_id = new_id
    return Handled(st, f"key {new_id} in use; keys {sorted(active)} accepted for "
                       f"{KEY_GRACE_S:g} s more",
                   [("auth.key_rotated", {"key_id": new_id, "grace_s": KEY_GRACE_S})])


def set_provisioned(st: AuthState, provisioned: dict[int, bytes]) -> None:
    """The shell's part at boot: the keys of the key directory."""
    st.provisioned = dict(provisioned)
    if not st.current_id and provisioned:
        st.current_id = max(provisioned)


def window_top(st: AuthState) -> int:
    """The highest command number taken from the ground (-1: none yet)."""
    return st.windows.get(GROUND_SOURCE, [-1, 0])[0]


def telemetry(st: AuthState) -> dict[str, Any]:
    return {"auth.key_id": st.current_id,
            "auth.frames_rejected": sum(st.rejected.values()),
            "auth.duplicates": st.rejected.get("duplicate", 0),
            "auth.last_reject": st.last_reason,
            "auth.window_top": window_top(st)}


DECLARATIONS = Declarations(
    component="auth",
    commands=(
        Command("auth.key_rotate", "Load a new uplink key (wrapped under an active key) "
                "and use it from now on; the old keys stay valid for a grace period.",
                args=(Arg("key_id", ArgType.INT, "the new key's id", min=2, max=0xFFFF),
                      Arg("under", ArgType.INT, "id of the key it is wrapped under",
                          min=1, max=0xFFFF),
                      Arg("wrapped", ArgType.STR, "the wrapped key (hex)", max_len=80)),
                hazardous=True),
    ),
    telemetry=(
        Tlm("auth.key_id", ArgType.INT, "Uplink key in use (the newest loaded)"),
        Tlm("auth.frames_rejected", ArgType.INT,
            "Uplink frames refused by authentication or the anti-replay window"),
        Tlm("auth.duplicates", ArgType.INT,
            "Commands received again (not run again; verification re-sent)"),
        Tlm("auth.last_reject", ArgType.STR, "Reason of the latest refusal"),
        Tlm("auth.window_top", ArgType.INT, "Highest command number taken from the ground"),
    ),
    events=(
        Event("auth.frame_rejected", Severity.WARNING_LO, "Uplink frame refused "
              "({reason}): {detail}", throttle=20),
        Event("auth.key_rotated", Severity.ACTIVITY_HI, "Uplink key {key_id} in use; the "
              "old keys expire in {grace_s} s"),
    ),
)


COMPONENT: Component[AuthState] = Component(
    name="auth", declare=fixed(DECLARATIONS), initial=lambda _cfg: AuthState(),
    telemetry=telemetry, handlers={"auth.key_rotate": rotate})
