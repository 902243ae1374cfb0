"""Options for the whole suite (pytest reads ``addoption`` only from the tests' root)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hil.stack import Stack, StackOptions

E2E_SPEED = 10.0
"""Sim seconds per wall second for the e2e stack: the first pass (~26 min) lasts ~2.5 min."""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole stack as processes in lockstep on the default profile, a few minutes
    before its first pass: one per test module that asks (e2e, jobs, the console's
    browser tests), each stopped with every process checked gone."""
    opts = StackOptions(profile="cubesat-jetson", lockstep=True, duration_s=3000.0,
                        speed=E2E_SPEED, run_dir=tmp_path_factory.mktemp("e2e") / "run")
    stack = Stack.start(opts)
    try:
        yield stack
    finally:
        stack.stop()
        assert all(p.poll() is not None for p in stack.procs.values()), "a process survived"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hil", "hardware in the loop (pytest -m hil)")
    group.addoption("--hil-board", default=None,
                    help="the board the hil tests run against: virtual[:FAMILY] (default, "
                         "or $AISAT_HIL_BOARD) or ssh://[user@]host")
    group.addoption("--hil-uart", default="",
                    help="with ssh://: the host's end of the board's UART (or $AISAT_HIL_UART)")
