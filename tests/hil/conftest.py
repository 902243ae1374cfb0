"""Shared fixtures for the plant tests."""

from __future__ import annotations

import pytest

from hil.plant import Profile, load_profile


@pytest.fixture(scope="session")
def jetson() -> Profile:
    return load_profile("cubesat-jetson")
