"""Finding a running stack from the ground's side: endpoints, archive and dictionary.

The launcher writes :class:`flightsw.stackinfo.StackInfo` to ``<run_dir>/stack.json``;
the ground process, the CLI and the scripting API all start from it. The dictionary
the ground works from is the exported JSON the launcher names there (the ground is
built against the flight's *exported* interface, as in a real mission); without one it
falls back to the dictionary built from this checkout's declarations.
"""

from __future__ import annotations

import json
from pathlib import Path

from flightsw.dictionary import Dictionary
from flightsw.errors import DictionaryError, FlightError
from flightsw.stackinfo import StackInfo
from ground.errors import GroundError, NoStack

ARCHIVE_FILE = "archive.sqlite"
"""The current run's archive in a run directory (the launcher's name for it)."""


def read_stack(run_dir: Path | str) -> StackInfo:
    """The stack in ``run_dir``; raises :class:`NoStack` with where it looked."""
    try:
        return StackInfo.read(Path(run_dir))
    except FlightError as exc:
        raise NoStack(exc.reason, **exc.details) from exc


def archive_path(info: StackInfo) -> Path:
    """Where the ground archive is: as the stack says, else in the run directory."""
    return Path(info.archive) if info.archive else Path(info.run_dir) / ARCHIVE_FILE


def load_dictionary(path: Path | str | None) -> Dictionary:
    """The exported dictionary at ``path`` if there is one, else the built-in one."""
    if not path or not Path(path).exists():
        return built_in_dictionary()
    try:
        return Dictionary.from_json(json.loads(Path(path).read_text()))
    except (OSError, ValueError, KeyError, TypeError, DictionaryError) as exc:
        raise GroundError("dictionary file unreadable", path=str(path),
                          error=str(exc)) from exc


def dictionary_for(run_dir: Path | str) -> Dictionary:
    """The dictionary of the stack in ``run_dir``, or the built-in one if none runs.

    The CLI validates commands with this *before* it looks for the ground process, so a
    typo is refused the same way whether or not a stack is up.
    """
    try:
        info = StackInfo.read(Path(run_dir))
    except FlightError:
        return built_in_dictionary()
    return load_dictionary(info.dictionary or None)


def built_in_dictionary() -> Dictionary:
    """The dictionary built from this checkout's declarations. Imported only when asked
    for: the catalog imports every flight component (0.19 s of CPU at each ground
    start, where the launcher always names an exported dictionary)."""
    from flightsw.catalog import build_dictionary

    return build_dictionary()
