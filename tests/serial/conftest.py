"""A fresh pty pair (the virtual board's UART) per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hil.virtual_uart import PtyPair, open_pty_pair


@pytest.fixture
def pty() -> Iterator[PtyPair]:
    pair = open_pty_pair()
    yield pair
    pair.close()
