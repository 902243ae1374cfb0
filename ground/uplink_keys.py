"""The ground's uplink keys: every frame the ground sends up is sealed under its current
key (:mod:`flightsw.uplink_auth`), and a rotation is started here and finished when the
flight confirms it.

Rotation, the ground's half: :meth:`UplinkKeys.begin_rotation` makes a new key, keeps it
as *pending* (``uplink-<id>.pending`` in the key directory, 0600) and returns the
arguments of ``auth.key_rotate`` (the key wrapped under the current one, so it is never
in clear on the link or in the archive). The ground goes on sealing under the old key
until the flight reports the command ``completed`` (:meth:`confirm`); only then does it
switch, because a switch before the flight holds the new key would lock the ground out.
The flight keeps accepting the old key for its grace window, so frames already on their
way under it still count.
"""

from __future__ import annotations

from pathlib import Path

from flightsw import channel_auth, keyring, uplink_auth


class UplinkKeys:
    def __init__(self, keys: dict[int, bytes], directory: Path | None = None,
                 pending: dict[int, bytes] | None = None) -> None:
        if not keys:
            raise ValueError("the ground needs at least one uplink key")
        self.keys = dict(keys)
        self.directory = directory
        self.pending = dict(pending or {})
        self.current_id = max(self.keys)
        self.rotations = 0

    @classmethod
    def from_dir(cls, directory: Path) -> UplinkKeys:
        """The key directory's keys (created with key 1 on first use); raises
        :class:`flightsw.keyring.KeyDirError` if it cannot be used."""
        return cls(keyring.ensure(directory), directory,
                   keyring.load(directory, pending=True))

    @classmethod
    def ephemeral(cls) -> UplinkKeys:
        """One random key, nowhere on disk (in-process tests hand it to the flight)."""
        return cls({1: channel_auth.new_key()})

    @property
    def key(self) -> bytes:
        return self.keys[self.current_id]

    def seal(self, envelope: bytes) -> bytes:
        return uplink_auth.seal(self.key, self.current_id, envelope)

    def begin_rotation(self) -> dict[str, object]:
        """A new pending key; returns the ``auth.key_rotate`` arguments that load it."""
        new_id = max([*self.keys, *self.pending]) + 1
        if new_id > keyring.MAX_KEY_ID:
            raise ValueError("key ids exhausted")
        key = channel_auth.new_key()
        if self.directory is not None:
            keyring.write_key(self.directory, new_id, key, pending=True)
        self.pending[new_id] = key
        return {"key_id": new_id, "under": self.current_id,
                "wrapped": uplink_auth.wrap_key(self.key, new_id, key)}

    def confirm(self, key_id: int) -> bool:
        """The flight completed ``auth.key_rotate`` for ``key_id``: seal under it now."""
        key = self.pending.pop(key_id, None)
        if key is None:
            return False
        self.keys[key_id] = key
        self.current_id = max(self.current_id, key_id)
        self.rotations += 1
        if self.directory is not None:
            keyring.activate(self.directory, key_id)
        return True
