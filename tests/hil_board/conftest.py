"""The board the hil tests run against (:mod:`hil.target`), one per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hil.target import BoardTarget, open_target


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[BoardTarget]:
    board = open_target(request.config.getoption("--hil-board"),
                        tmp_path_factory.mktemp("hil"), request.config.getoption("--hil-uart"))
    yield board
    board.close()
