"""Every component the executive runs, in one list, and the dictionary built from it.

Adding a component means adding it to :func:`components`; the JSON dictionary, the
ground's validation, command routing, housekeeping and persistence all follow from this
list. Wiring its ``step`` into a rate group is the topology's (:mod:`flightsw.topology`).
"""

from __future__ import annotations

from typing import Any

from flightsw import (
    commanding,
    cycle_health,
    heaters,
    jobs,
    limits,
    link,
    model_store,
    modes,
    payload_supervision,
    planner,
    power,
    schedule,
    sensor_health,
    sequences,
    throttle,
    uplink_auth,
)
from flightsw.component import Component
from flightsw.config import FlightConfig
from flightsw.dictionary import Declarations, Dictionary
from flightsw.model_card import shipped_cards

DICTIONARY_VERSION = "0.6.0"
"""Raised when commands, telemetry or events change meaning (0.3.0: payload escalation,
watchdogs, heaters and sensor health, the acknowledged link; 0.4.0: stored command
sequences as data, seq.* commands and telemetry; thermal.compute_power_w, the compute
board's power, from the plant or in HIL the board; authenticated uplink, verification
stages received/started, hazardous commands; operator jobs; 0.5.0: the model store,
model.* commands, weight scrubbing and integrity telemetry and events;
planner.precool_c; verification reports name their command's source; 0.6.0:
planner.battery_band_c and planner.avionics_band_c, the heat forecast's band shifts;
payload.threads, payload.intra_op_threads, payload.threads_changed; a running job's
cancel interrupts its inference; the shipped models' cards in the dictionary,
model.upload_begin carries the card's input and output names and shapes,
model.validated carries the card)."""


def components(cfg: FlightConfig) -> list[Component[Any]]:
    """The executive's components, in the order their telemetry is reported."""
    return [
        commanding.COMPONENT,
        uplink_auth.COMPONENT,
        schedule.COMPONENT,
        cycle_health.COMPONENT,
        modes.component(cfg),
        throttle.COMPONENT,
        planner.COMPONENT,
        power.COMPONENT,
        heaters.component(cfg),
        sensor_health.COMPONENT,
        limits.component(cfg),
        sequences.component(cfg),
        payload_supervision.COMPONENT,
        jobs.COMPONENT,
        link.COMPONENT,
        model_store.COMPONENT,
    ]


def declarations(cfg: FlightConfig) -> list[Declarations]:
    return [d for c in components(cfg) for d in c.declare(cfg)]


def build_dictionary(cfg: FlightConfig | None = None) -> Dictionary:
    """The dictionary for a spacecraft; limits come from its flight configuration, the
    model cards from the shipped models' card files."""
    return Dictionary.build(DICTIONARY_VERSION, declarations(cfg or FlightConfig()),
                            shipped_cards())
