"""Every component the executive runs, and the dictionary built from their declarations.

Adding a component means adding its declarations here; the JSON dictionary, the ground's
validation and the console all follow from this list.
"""

from __future__ import annotations

from flightsw import commanding, link, modes, payload_supervision, power, throttle
from flightsw.config import FlightConfig
from flightsw.dictionary import Declarations, Dictionary

DICTIONARY_VERSION = "0.1.0"


def components(cfg: FlightConfig) -> list[Declarations]:
    return [
        commanding.DECLARATIONS,
        modes.DECLARATIONS,
        throttle.DECLARATIONS,
        power.declarations(cfg),
        power.thermal_declarations(cfg),
        payload_supervision.DECLARATIONS,
        link.DECLARATIONS,
    ]


def build_dictionary(cfg: FlightConfig | None = None) -> Dictionary:
    """The dictionary for a spacecraft; limits come from its flight configuration."""
    return Dictionary.build(DICTIONARY_VERSION, components(cfg or FlightConfig()))
