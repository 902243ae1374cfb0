"""The order in which one turn's downlink frames and WORLD messages happened.

Why: the ground drains its two sockets (the executive's link, the plant's WORLD
publisher) once per loop turn. On the sim clock a turn may hold several simulated
seconds of both, and what the ground decides from them (which frames were sent in
contact, the spacecraft time its HELLO and acknowledgements carry) depends on their
order, which the two sockets do not keep. Judged one socket after the other, a turn of
many seconds would judge every frame by the contact state before all of its WORLDs, and
stamp an AOS HELLO with the turn's last WORLD time instead of the AOS one: what the
ground archives would follow how often it woke up. Put back in the order they happened,
a turn of ten seconds decides what ten turns of one second would, so the ground may wake
up less often (its loop turns cost it most of its CPU in a lockstep sim).

The order comes from lockstep itself (``hil.plantd``): the plant ticks the flight at
time ``t_j`` (and publishes that time's WORLD meanwhile), the flight's cycles of that
tick make records stamped in ``(t_(j-1), t_j]``, and the next WORLD is of the plant's
next step. So a frame stamped after ``t_(j-1)`` belongs after WORLD ``j``, however the
two sockets happened to deliver it (the executive sends a tick's frames once the plant
has its answer, so they race the WORLDs). Played-back records carry old stamps, so
a frame is placed by the newest stamp among it and the frames before it on the link
(which keeps their order); a frame without a usable stamp stays with the frame before
it. WORLD times that do not increase (a restarted plant), a WORLD without a
readable time, or a WORLD not after the one before this turn, give up on the
interleaving: the turn is then taken as before, all frames first (the order a
WORLD-per-turn ground used).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

Frame = TypeVar("Frame")
World = TypeVar("World")


def interleave(frames: Sequence[Frame], frame_stamps_s: Sequence[float | None],
               worlds: Sequence[World], world_times_s: Sequence[float | None],
               previous_world_s: float | None) -> list[tuple[list[Frame], World | None]]:
    """Split a turn into ``(frames sent before this WORLD, the WORLD)`` steps, in order,
    ending with ``(frames sent after the last WORLD, None)``.

    ``frame_stamps_s`` are the frames' envelope times (None: unreadable or implausible),
    ``world_times_s`` the WORLDs', ``previous_world_s`` the time of the WORLD before this
    turn's (None if there was none). Every frame and WORLD comes back exactly once, each
    socket's own order kept.
    """
    if len(frame_stamps_s) != len(frames) or len(world_times_s) != len(worlds):
        raise ValueError("one stamp per frame and one time per WORLD")
    if not worlds:
        return frames_first(frames, worlds)
    times: list[float] = []
    last_s = -math.inf if previous_world_s is None else previous_world_s
    for t in world_times_s:
        if t is None or not math.isfinite(t) or t <= last_s:
            return frames_first(frames, worlds)
        times.append(t)
        last_s = t
    # WORLD j was published before the frames stamped after the WORLD before it
    after_s = [-math.inf if previous_world_s is None else previous_world_s, *times[:-1]]
    steps: list[tuple[list[Frame], World | None]] = []
    pending: list[Frame] = []
    j = 0
    newest_s = -math.inf
    for frame, stamp in zip(frames, frame_stamps_s, strict=True):
        if stamp is not None and stamp > newest_s:
            newest_s = stamp
        while j < len(worlds) and newest_s > after_s[j]:
            steps.append((pending, worlds[j]))
            pending = []
            j += 1
        pending.append(frame)
    for world in worlds[j:]:
        steps.append((pending, world))
        pending = []
    steps.append((pending, None))
    return steps


def frames_first(frames: Sequence[Frame],
                 worlds: Sequence[World]) -> list[tuple[list[Frame], World | None]]:
    """The turn as drained, all frames before all WORLDs (the real clock's order: there
    the ground takes each message as it comes, and no lockstep orders them)."""
    if not worlds:
        return [(list(frames), None)]
    return [(list(frames), worlds[0]), *(([], w) for w in worlds[1:]), ([], None)]
