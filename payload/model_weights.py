"""The model's weights as arrays the payload owns: golden hashes, scrubbing, bit flips.

Why: a radiation upset flips bits in memory, and the weights of a model are most of the
memory an inference reads. onnxruntime keeps its weights where Python cannot see them,
so the payload keeps them itself: every initializer of the ONNX graph is decoded into a
numpy array here, wrapped in an ``OrtValue`` that *shares* the array's memory, and handed
to the session with ``SessionOptions.add_initializer``. The session then computes with
these very bytes (checked by the tests: a flipped bit here changes the output), so

- re-hashing the arrays is re-hashing what inference really uses (:meth:`scrub`);
- repairing them in place (:meth:`repair`, ``np.copyto`` from the verified file) fixes
  the running session without rebuilding it;
- fault injection flips real bits (:meth:`flip_bits`).

One price: onnxruntime normally *pre-packs* MatMul weights and, at its top optimisation
level, rewrites Conv weights into a blocked layout: copies the scrubber could not see
(found by the tests: flips in 5 of the CNN's 14 float tensors changed nothing). So
pre-packing is off (``session.disable_prepacking``) and graph optimisation stops at
``ORT_ENABLE_EXTENDED`` (fusions that keep our tensors); the cost is measured by
:mod:`payload.integrity_bench`.
The golden hash of each tensor is taken from the file whose SHA-256 matched the model
card at load, so it is as trustworthy as the card.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from payload.errors import ModelError

DISABLE_PREPACKING = ("session.disable_prepacking", "1")


def decode_initializers(blob: bytes) -> dict[str, npt.NDArray[Any]]:
    """Every initializer of an ONNX model as an owned, writable, contiguous array."""
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load_from_string(blob)
    except Exception as exc:  # DecodeError and friends
        raise ModelError("model is not a readable ONNX protobuf",
                         error=f"{type(exc).__name__}: {exc}") from exc
    return {init.name: np.ascontiguousarray(np.array(numpy_helper.to_array(init), copy=True))
            for init in model.graph.initializer}


def tensor_sha256(array: npt.NDArray[Any]) -> str:
    return hashlib.sha256(array.tobytes()).hexdigest()


@dataclass(frozen=True)
class ScrubReport:
    """One scrub: tensors and bytes checked, which differed from golden, how long."""

    tensors: int
    bytes_checked: int
    corrupted: tuple[str, ...]
    took_s: float


@dataclass(frozen=True)
class Flip:
    tensor: str
    byte_offset: int
    bit: int


@dataclass
class WeightBank:
    """The weights a session computes with, and their golden hashes."""

    arrays: dict[str, npt.NDArray[Any]]
    golden: dict[str, str]
    source: Path | None = None  # the model file to repair from
    source_sha256: str = ""
    scrubs: int = 0
    repairs: int = 0  # tensors restored from the store
    _ort_values: list[Any] = field(default_factory=list, repr=False)

    @classmethod
    def from_blob(cls, blob: bytes, *, source: Path | None = None,
                  source_sha256: str = "") -> WeightBank:
        arrays = decode_initializers(blob)
        return cls(arrays, {k: tensor_sha256(v) for k, v in arrays.items()}, source,
                   source_sha256)

    @property
    def n_bytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())

    def bind(self, ort: Any, options: Any) -> None:
        """Make a session built with ``options`` compute with these arrays, in place."""
        options.add_session_config_entry(*DISABLE_PREPACKING)
        # the layout level (NCHWc) rewrites Conv weights into new, blocked tensors
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        self._ort_values = []
        for name, array in self.arrays.items():
            value = ort.OrtValue.ortvalue_from_numpy(array)  # shares the memory
            self._ort_values.append(value)  # must outlive the session
            options.add_initializer(name, value)

    def scrub(self) -> ScrubReport:
        """Re-hash every tensor against its golden hash."""
        t0 = time.perf_counter()
        bad = tuple(name for name, array in self.arrays.items()
                    if tensor_sha256(array) != self.golden[name])
        self.scrubs += 1
        return ScrubReport(len(self.arrays), self.n_bytes, bad, time.perf_counter() - t0)

    def repair(self, names: tuple[str, ...]) -> int:
        """Reload ``names`` from the model file (checked against its SHA-256 first) into
        the live arrays; returns how many were restored. A file that no longer matches
        raises :class:`ModelError` (the store's copy is corrupt too: reload elsewhere)."""
        if not names:
            return 0
        if self.source is None:
            raise ModelError("no model file to repair the weights from")
        try:
            blob = self.source.read_bytes()
        except OSError as exc:
            raise ModelError("model file unreadable for repair", model=str(self.source),
                             error=str(exc)) from exc
        digest = hashlib.sha256(blob).hexdigest()
        if self.source_sha256 and digest != self.source_sha256:
            raise ModelError("model file is corrupt too: it no longer matches its sha256",
                             model=str(self.source), expected=self.source_sha256,
                             actual=digest)
        fresh = decode_initializers(blob)
        for name in names:
            np.copyto(self.arrays[name], fresh[name])
            if tensor_sha256(self.arrays[name]) != self.golden[name]:
                raise ModelError("repaired tensor still differs from its golden hash",
                                 tensor=name)
        self.repairs += len(names)
        return len(names)

    def flip_bits(self, n: int, rng: np.random.Generator, *,
                  tensor: str = "") -> list[Flip]:
        """Flip ``n`` distinct random bits (in ``tensor``, or anywhere in the float
        weights, weighted by size). Fault injection for tests and HIL demos."""
        names = [tensor] if tensor else [k for k, a in self.arrays.items()
                                         if a.dtype.kind == "f"]
        if tensor and tensor not in self.arrays:
            raise ModelError("no such weight tensor", tensor=tensor,
                             known=sorted(self.arrays))
        sizes = np.array([self.arrays[k].nbytes * 8 for k in names], dtype=np.int64)
        total = int(sizes.sum())
        picks = rng.choice(total, size=min(n, total), replace=False)
        edges = np.cumsum(sizes)
        flips: list[Flip] = []
        for pick in sorted(int(p) for p in picks):
            i = int(np.searchsorted(edges, pick, side="right"))
            offset = pick - (int(edges[i - 1]) if i else 0)
            raw = self.arrays[names[i]].reshape(-1).view(np.uint8)
            raw[offset // 8] ^= np.uint8(1 << (offset % 8))
            flips.append(Flip(names[i], offset // 8, offset % 8))
        return flips


def flip_input_bits(batch: npt.NDArray[np.float32], n: int,
                    rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """A copy of ``batch`` with ``n`` random bits flipped (an upset in the input buffer)."""
    out = np.array(batch, copy=True)
    raw = out.reshape(-1).view(np.uint8)
    for pick in rng.choice(raw.size * 8, size=min(n, raw.size * 8), replace=False):
        raw[int(pick) // 8] ^= np.uint8(1 << (int(pick) % 8))
    return out
