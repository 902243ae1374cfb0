"""How the ground shows values, times and refusals to people (CLI, API messages).

One place, so that the CLI's table, the scripting API's timeout messages and (later)
the web console agree on how a time or a refusal reads.
"""

from __future__ import annotations

import difflib
import math
from datetime import datetime, timezone
from typing import Any

from flightsw.errors import FlightError, safe_repr


def utc_text(time_s: float | None) -> str:
    """``2026-05-09T07:35:25.123Z``, or ``-`` for no time."""
    if time_s is None or not math.isfinite(time_s):
        return "-"
    try:
        stamp = datetime.fromtimestamp(time_s, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return f"{time_s:.3f}"
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def value_text(value: Any) -> str:
    if value is None:
        return "NaN"  # SQLite keeps NaN (no reading) as NULL
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def duration_text(seconds: float) -> str:
    return f"{seconds:g} s" if seconds < 120 else f"{seconds / 60:.1f} min"


SUBJECT_KEYS = ("command", "argument", "point", "event")


def refusal_text(exc: FlightError) -> str:
    """A refusal as lines: the reason with its subject, then the valid choices."""
    d = exc.details
    subject = [f"{k} {_quoted(d[k])}" for k in SUBJECT_KEYS if k in d]
    head = exc.reason + (f": {', '.join(subject)}" if subject else "")
    lines = [head]
    if "got" in d:
        lines.append(f"  got: {d['got']}")
    if "expected" in d:
        lines.append(f"  expected: {d['expected']}")
    valid = d.get("valid")
    close = d.get("did_you_mean")
    name = d.get("command") if exc.reason == "unknown command" else None
    if close is None and isinstance(name, str) and isinstance(valid, (list, tuple)):
        close = difflib.get_close_matches(name.strip("'"), [str(v) for v in valid], n=3)
    if close:
        lines.append(f"  did you mean: {', '.join(str(c) for c in close)}")
    if isinstance(valid, (list, tuple)):
        if not valid:
            lines.append("  valid: (this command takes no arguments)")
        else:
            lines.append("  valid:")
            lines.extend(f"    {v}" for v in valid)
    return "\n".join(lines)


def _quoted(value: object) -> str:
    text = value if isinstance(value, str) else safe_repr(value, 200)
    return text[:200] if text[:1] in ("'", '"') else safe_repr(text, 200)


def close_matches(name: str, choices: list[str]) -> dict[str, list[str]]:
    """Refusal details for an unknown name: the close matches, else every choice."""
    close = difflib.get_close_matches(name, choices, n=5, cutoff=0.5)
    return {"did_you_mean": close} if close else {"valid": sorted(choices)}
