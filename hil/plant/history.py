"""The plant's recorded time series, kept as compact float arrays while the sim runs.

Appending to ``array('d')`` costs about as much as a list append but stores 8 bytes per
sample, so a 30-day run at 1 s stays small; :meth:`History.arrays` hands numpy views to
the report.
"""

from __future__ import annotations

from array import array
from typing import Any

import numpy as np

from hil.plant.frames import FloatArray

SCALAR_FIELDS: tuple[str, ...] = (
    "t_s",
    "sun_fraction",
    "beta_deg",
    "array_power_w",
    "array_available_w",
    "load_power_w",
    "payload_power_w",
    "heater_power_w",
    "battery_soc_frac",
    "battery_voltage_v",
    "battery_current_a",
    "payload_activity_frac",
    "throttle_frac",
    "in_contact",
    "elevation_deg",
)


class History:
    """Columns of samples, one row per plant step (taken at the end of the step)."""

    def __init__(self, node_names: list[str], station_names: list[str], epoch_utc_s: float) -> None:
        self.node_names = list(node_names)
        self.station_names = list(station_names)
        self.epoch_utc_s = epoch_utc_s
        self.columns: dict[str, array[float]] = {name: array("d") for name in SCALAR_FIELDS}
        self.temps_c: dict[str, array[float]] = {name: array("d") for name in node_names}
        self.station_idx: array[int] = array("i")
        self.modes: list[str] = []
        self.mode_change_t_s: list[float] = []

    def __len__(self) -> int:
        return len(self.columns["t_s"])

    def arrays(self) -> dict[str, FloatArray]:
        """Every scalar column and ``temp_c:<node>`` as numpy arrays (no copies)."""
        out: dict[str, FloatArray] = {
            k: np.frombuffer(v, dtype=float) for k, v in self.columns.items()
        }
        for name, col in self.temps_c.items():
            out[f"temp_c:{name}"] = np.frombuffer(col, dtype=float)
        return out

    def mode_spans(self) -> list[tuple[float, float, str]]:
        """(start_s, end_s, mode) intervals of the reported mode."""
        spans: list[tuple[float, float, str]] = []
        t = self.columns["t_s"]
        if not len(t):
            return spans
        start_i = 0
        for i in range(1, len(self.modes) + 1):
            if i == len(self.modes) or self.modes[i] != self.modes[start_i]:
                spans.append((t[start_i], t[i - 1], self.modes[start_i]))
                start_i = i
        return spans

    def to_dict(self) -> dict[str, Any]:
        """Plain lists, for JSON or msgpack."""
        out: dict[str, Any] = {k: v.tolist() for k, v in self.columns.items()}
        out["temps_c"] = {k: v.tolist() for k, v in self.temps_c.items()}
        out["station_idx"] = self.station_idx.tolist()
        out["station_names"] = self.station_names
        out["modes"] = list(self.modes)
        out["epoch_utc_s"] = self.epoch_utc_s
        return out
