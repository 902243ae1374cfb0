"""The mission report: one self-contained HTML file with plots over time.

Sun and eclipse, array power, battery SoC and voltage, every temperature, the payload's
throttle and mode, and the ground contacts, drawn with matplotlib as inline SVG (no
external files, no scripts) plus the plant's summary table and its violations.
"""

from __future__ import annotations

import html
import io
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from hil.plant.history import History
from hil.plant.limits import iso_utc
from hil.plant.plant import Plant

MAX_POINTS = 2000  # per series; keeps the SVG light for multi-day runs

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
.bad { color: #b00; } .ok { color: #070; }
figure { margin: 0.5em 0; }
"""


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")  # no pyplot: no global state
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _stride(n: int) -> int:
    return max(1, n // MAX_POINTS)


def _time_unit(t_end_s: float) -> tuple[float, str]:
    """Seconds per axis unit and the axis label, chosen for the run's length."""
    if t_end_s > 2 * 86400:
        return 86400.0, "days since epoch"
    if t_end_s > 3 * 3600:
        return 3600.0, "hours since epoch"
    return 60.0, "minutes since epoch"


def _shade(ax: Axes, x: np.ndarray, mask: np.ndarray, color: str, label: str) -> None:
    ax.fill_between(
        x,
        0,
        1,
        where=mask,
        transform=ax.get_xaxis_transform(),
        color=color,
        alpha=0.18,
        linewidth=0,
        label=label,
        step="post",
    )


def _figures(h: History, flight: dict[str, float]) -> list[tuple[str, str]]:
    a = h.arrays()
    k = _stride(len(h))
    t_unit_s, xlabel = _time_unit(float(a["t_s"][-1]))
    x = a["t_s"][::k] / t_unit_s
    sun = a["sun_fraction"][::k]
    contact = a["in_contact"][::k] > 0.5
    eclipse = sun < 1.0
    out: list[tuple[str, str]] = []

    def new(title: str, height: float = 2.6) -> tuple[Figure, Axes]:
        fig = Figure(figsize=(10.5, height))
        ax = fig.subplots()
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        return fig, ax

    fig, ax = new("Sun and eclipse (grey: shadow, green: ground contact)")
    ax.plot(x, sun, color="orange", lw=1.2, label="sun fraction")
    _shade(ax, x, eclipse, "black", "eclipse")
    _shade(ax, x, contact, "green", "contact")
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("lit fraction")
    ax2 = ax.twinx()
    ax2.plot(x, a["beta_deg"][::k], color="purple", lw=0.8, ls="--", label="beta")
    ax2.set_ylabel("beta (deg)")
    ax2.ticklabel_format(useOffset=False)
    beta_mid = float(np.mean(a["beta_deg"]))
    ax2.set_ylim(
        min(beta_mid - 1.0, float(np.min(a["beta_deg"]))),
        max(beta_mid + 1.0, float(np.max(a["beta_deg"]))),
    )
    ax.legend(loc="lower left", fontsize=8, ncol=3)
    out.append(("sun", _svg(fig)))

    fig, ax = new("Power")
    ax.plot(x, a["array_available_w"][::k], lw=0.8, color="gold", label="array available")
    ax.plot(x, a["array_power_w"][::k], lw=1.2, color="darkorange", label="array drawn")
    ax.plot(x, a["load_power_w"][::k], lw=1.2, color="tab:blue", label="loads")
    ax.plot(x, a["payload_power_w"][::k], lw=1.0, color="tab:red", label="payload")
    if np.any(a["heater_power_w"] > 0):
        ax.plot(x, a["heater_power_w"][::k], lw=0.8, color="tab:brown", label="heaters")
    _shade(ax, x, eclipse, "black", "_eclipse")
    ax.set_ylabel("W")
    ax.legend(loc="upper right", fontsize=8, ncol=5)
    out.append(("power", _svg(fig)))

    fig, ax = new("Battery")
    ax.plot(x, 100 * a["battery_soc_frac"][::k], color="tab:green", lw=1.4, label="SoC")
    for key, style in (
        ("battery_soc_floor_frac", ":"),
        ("battery_soc_safe_frac", "--"),
        ("battery_soc_compute_frac", "-."),
    ):
        if key in flight:
            ax.axhline(
                100 * flight[key],
                color="grey",
                ls=style,
                lw=0.8,
                label=key.replace("battery_soc_", "").replace("_frac", ""),
            )
    ax.set_ylabel("SoC (%)")
    ax2 = ax.twinx()
    ax2.plot(x, a["battery_voltage_v"][::k], color="tab:blue", lw=0.8, label="voltage")
    ax2.set_ylabel("V")
    ax.legend(loc="lower left", fontsize=8, ncol=4)
    ax2.legend(loc="lower right", fontsize=8)
    out.append(("battery", _svg(fig)))

    fig, ax = new("Temperatures", 3.2)
    for name in h.node_names:
        ax.plot(x, a[f"temp_c:{name}"][::k], lw=1.1, label=name)
    for key, color in (
        ("payload_temp_target_c", "green"),
        ("payload_temp_warn_c", "orange"),
        ("payload_temp_max_c", "red"),
    ):
        if key in flight:
            ax.axhline(
                flight[key],
                color=color,
                ls="--",
                lw=0.8,
                label=key.replace("payload_temp_", "payload ").replace("_c", ""),
            )
    ax.set_ylabel("C")
    ax.legend(loc="upper left", fontsize=8, ncol=4)
    out.append(("temps", _svg(fig)))

    fig, ax = new("Payload: reported activity, throttle and mode")
    ax.plot(x, a["payload_activity_frac"][::k], lw=1.0, color="tab:red", label="activity")
    ax.plot(x, a["throttle_frac"][::k], lw=1.0, color="tab:blue", ls="--", label="throttle")
    ax.set_ylim(-0.05, 1.25)
    ax.set_ylabel("fraction")
    mode_arr = np.array(h.modes[::k], dtype=object)
    modes = sorted(set(h.modes))
    cmap = colormaps["tab10"]
    for i, mode in enumerate(modes):  # one band per mode, however often it toggles
        ax.fill_between(
            x,
            1.08,
            1.22,
            where=mode_arr == mode,
            step="post",
            color=cmap(i % 10),
            alpha=0.6,
            lw=0,
            label=mode or "(no mode)",
        )
    ax.legend(loc="center left", fontsize=8, ncol=3)
    out.append(("payload", _svg(fig)))

    fig, ax = new("Ground contacts (elevation of the best station in view)")
    idx = np.frombuffer(h.station_idx, dtype=np.int32)[::k]
    elev = a["elevation_deg"][::k]
    for s, name in enumerate(h.station_names):
        m = idx == s
        if np.any(m):  # NaN outside the station's passes breaks the line between them
            ax.plot(x, np.where(m, elev, np.nan), lw=1.5, label=name)
    ax.set_ylabel("elevation (deg)")
    ax.set_ylim(0, 90)
    if np.any(idx >= 0):
        ax.legend(loc="upper right", fontsize=8, ncol=6)
    out.append(("contacts", _svg(fig)))
    return out


def _rows(summary: dict[str, Any]) -> str:
    rows = []
    for key, value in summary.items():
        if key in ("violations", "limits"):
            continue
        if isinstance(value, dict):
            text = ", ".join(
                f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in value.items()
            )
        elif isinstance(value, float):
            text = f"{value:.4g}"
        else:
            text = str(value)
        rows.append(f"<tr><th>{html.escape(key)}</th><td>{html.escape(text)}</td></tr>")
    return "\n".join(rows)


def _limit_rows(summary: dict[str, Any]) -> str:
    """The plant's per-limit record: what was checked at every step, and how it went."""
    rows = []
    for lim in summary.get("limits") or []:
        bad = int(lim.get("steps", 0)) > 0
        first = lim.get("first_utc_s")
        worst = lim.get("worst")
        cells = [
            str(lim.get("label", "")),
            f"{lim.get('kind', '')} {lim.get('limit', float('nan')):g} {lim.get('unit', '')}",
            str(lim.get("episodes", 0)),
            f"{float(lim.get('violated_s', 0.0)):.0f}",
            "" if first is None else iso_utc(float(first)),
            "" if worst is None else f"{float(worst):.2f} {lim.get('unit', '')}",
        ]
        tds = "".join(f"<td>{html.escape(c)}</td>" for c in cells)
        rows.append(f"<tr class='{'bad' if bad else 'ok'}'>{tds}</tr>")
    if not rows:
        return ""
    head = "".join(f"<th>{h}</th>" for h in
                   ("limit", "violated when", "episodes", "seconds", "first", "worst"))
    return f"<h2>Limits checked every step</h2><table><tr>{head}</tr>{''.join(rows)}</table>"


def write_html(
    plant_or_history: Plant | History,
    path: str | Path,
    summary: dict[str, Any] | None = None,
    title: str = "aisat mission report",
) -> Path:
    """Write the report; returns its path. A Plant gives its history, summary and limits."""
    flight: dict[str, float] = {}
    if isinstance(plant_or_history, Plant):
        plant = plant_or_history
        if plant.history is None:
            raise ValueError("the plant was created with record=False: nothing to report")
        history = plant.history
        summary = plant.summary() if summary is None else summary
        flight = plant.profile.flight
    else:
        history = plant_or_history
    summary = summary or {}
    epoch = datetime.fromtimestamp(history.epoch_utc_s, tz=timezone.utc)
    violations = list(summary.get("violations", []))
    if violations:
        vio = (
            "<ul class='bad'>"
            + "".join(f"<li>{html.escape(str(v))}</li>" for v in violations)
            + "</ul>"
        )
    else:
        vio = "<p class='ok'>No limit violations.</p>"
    figures = _figures(history, flight) if len(history) else []
    body = "\n".join(f"<figure id='{name}'>{svg}</figure>" for name, svg in figures)
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Epoch {epoch:%Y-%m-%d %H:%M:%S} UTC; {len(history)} samples.</p>
<h2>Summary</h2><table>{_rows(summary)}</table>
<h2>Violations</h2>{vio}
{_limit_rows(summary)}
<h2>Over time</h2>{body or "<p>No samples recorded.</p>"}
</body></html>
"""
    out = Path(path)
    out.write_text(doc, encoding="utf-8")
    return out
