"""Who may bind where: loopback by default, the ops token for anything else."""

from __future__ import annotations

from pathlib import Path

import pytest

from ground.console.access import (
    AccessError,
    check_bind,
    host_allowed,
    is_loopback,
    read_token,
    same_secret,
)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost"])
def test_loopback_names(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.5", "::", "example.org", ""])
def test_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_non_loopback_bind_needs_the_token(tmp_path: Path) -> None:
    check_bind("127.0.0.1", None, tmp_path)
    with pytest.raises(AccessError, match=r"needs the ground's ops token.*ops\.token"):
        check_bind("0.0.0.0", read_token(tmp_path), tmp_path)
    token = tmp_path / "ops.token"
    token.write_text("s3cret\n")
    token.chmod(0o600)
    assert read_token(tmp_path) == "s3cret"
    check_bind("0.0.0.0", read_token(tmp_path), tmp_path)


def test_a_token_others_can_read_is_refused(tmp_path: Path) -> None:
    token = tmp_path / "ops.token"
    token.write_text("s3cret")
    token.chmod(0o644)
    with pytest.raises(AccessError, match=r"readable by others.*chmod 600"):
        read_token(tmp_path)


def test_secrets_compare_exactly_and_never_match_nothing() -> None:
    assert same_secret("abc", "abc")
    assert not same_secret("abd", "abc")
    assert not same_secret(None, "abc") and not same_secret("", "") and not same_secret("a", None)


def test_host_header_must_name_the_console() -> None:
    assert host_allowed("127.0.0.1:8080", "127.0.0.1", 8080)
    assert host_allowed("localhost:8080", "127.0.0.1", 8080)
    assert host_allowed("[::1]:8080", "::1", 8080)
    assert not host_allowed("evil.example:8080", "127.0.0.1", 8080)  # DNS rebinding
    assert not host_allowed("127.0.0.1:9999", "127.0.0.1", 8080)
    assert not host_allowed(None, "127.0.0.1", 8080)
    assert host_allowed("10.1.2.3:8080", "10.1.2.3", 8080)
    assert not host_allowed("10.1.2.4:8080", "10.1.2.3", 8080)
