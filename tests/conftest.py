"""Options for the whole suite (pytest reads ``addoption`` only from the tests' root)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hil", "hardware in the loop (pytest -m hil)")
    group.addoption("--hil-board", default=None,
                    help="the board the hil tests run against: virtual[:FAMILY] (default, "
                         "or $AISAT_HIL_BOARD) or ssh://[user@]host")
    group.addoption("--hil-uart", default="",
                    help="with ssh://: the host's end of the board's UART (or $AISAT_HIL_UART)")
