"""The plant's next step, made while the executive works on the last TICK.

In lockstep the executive answers each TICK with ACTUATORS and waits for the next TICK;
the plant's step between the two is on the critical path of the whole simulation. But
the part of the actuators that moves the physics (:class:`hil.plant.plant.Drive`: the
payload's power, the heaters, the transmitter) almost never changes from one second to
the next (11,741 of 11,742 steps of a 2-orbit suncatcher run). So the plant guesses that
the executive will answer as it did last time and makes the step *before* the answer
comes; when the answer drives the same, the step stands as made - bit for bit the step it
would have made after the answer, since a step is a function of the state and the
drive - and only its books (:meth:`Plant.settle`, which records the answer's reports)
remain. When the answer drives differently, the guess is undone
(:meth:`Plant.restore_physics`) and the step made again with the answer.

Pure: no sockets, no clock. The lockstep shell (:mod:`hil.plantd`) decides when to guess.
"""

from __future__ import annotations

from flightsw.hal import Actuators
from hil.plant.plant import Drive, PhysicsState, Plant


class Lookahead:
    """One guessed step at a time on one plant, with the count of guesses that stood."""

    def __init__(self, plant: Plant) -> None:
        self.plant = plant
        self.hits = 0
        """Guessed steps that stood (the executive's answer drove the same)."""
        self.misses = 0
        """Guessed steps undone and made again with the answer."""
        self._saved: PhysicsState | None = None
        self._drive: Drive | None = None

    @property
    def active(self) -> bool:
        """A guessed step is made and waits for the answer (the plant is one step ahead)."""
        return self._saved is not None

    def begin(self, dt_s: float, act: Actuators) -> None:
        """Make the next step under ``act`` (the last answer), undoably. The plant's last
        step must be settled: its books are not part of what can be undone."""
        if self._saved is not None:
            raise RuntimeError("a guessed step already waits for its answer")
        saved = self.plant.physics_state()
        drive = self.plant.drive(act)
        self.plant.advance(dt_s, drive)
        self._saved, self._drive = saved, drive

    def resolve(self, act: Actuators) -> bool:
        """The answer came: True if the guessed step stands (settle it with ``act``);
        False if it was undone, the plant as it was before :meth:`begin`."""
        saved = self._saved
        if saved is None:
            raise RuntimeError("no guessed step to resolve")
        stands = self.plant.drive(act) == self._drive
        self._saved = self._drive = None
        if stands:
            self.hits += 1
        else:
            self.plant.restore_physics(saved)
            self.misses += 1
        return stands

    def cancel(self) -> None:
        """No answer will come (a stop, a silent executive): undo a guessed step, if any."""
        if self._saved is not None:
            self.plant.restore_physics(self._saved)
            self._saved = self._drive = None

    def hit_fraction(self) -> float:
        """Share of resolved guesses that stood (0 before any)."""
        n = self.hits + self.misses
        return self.hits / n if n else 0.0
