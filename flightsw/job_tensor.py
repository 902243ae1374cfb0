"""The wire form of a tensor uploaded from the ground for a job, defined once.

An operator can ask the payload to classify tiles the ground sends up rather than
onboard captures (a calibration scene, a tile that puzzled the ground). A command
argument is text, so the tensor travels as three arguments:

- ``tensor``: base64 of zlib-compressed raw C-order bytes;
- ``shape``: ``"n,4,32,32"`` (tiles, bands, rows, columns), the model's input layout;
- ``dtype``: ``uint8`` (reflectance x 255, a quarter of the size) or ``float32``.

:func:`check` runs in the executive when the command arrives, so a bad tensor is
refused with the reason while the operator is still in the pass, and again (as
:func:`decode_bytes`) in the payload before anything reaches onnxruntime.
Decompression is bounded by the declared shape: a zip bomb is refused, not inflated.
Pure Python (no numpy): the executive does not import it.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass

from flightsw.errors import FlightError

DTYPE_BYTES = {"uint8": 1, "float32": 4}
TILE_SHAPE = (4, 32, 32)
"""Bands, rows, columns of one tile: what the shipped models take."""
MAX_TENSOR_TILES = 4
"""Tiles per uploaded tensor: a command must stay small on a slow uplink."""
MAX_TENSOR_TEXT = 6_000
"""Longest ``tensor`` argument (base64 characters) a command may carry: ~5 s on a
9.6 kbit/s uplink, what the station's transmitter queues (a longer command would hold
the uplink so long that the commands and acknowledgements behind it overflow). One
noisy uint8 tile is ~4.4 kB of text; smooth tiles compress further; a float32 tile does
not fit. A larger tensor would need the model store's chunked upload (not done)."""


class TensorRejected(FlightError):
    """An uploaded tensor that cannot be used (its reason says why)."""


@dataclass(frozen=True)
class UploadedTensor:
    """A checked tensor: raw bytes in the declared shape and type."""

    raw: bytes
    shape: tuple[int, ...]
    dtype: str

    @property
    def n_tiles(self) -> int:
        return self.shape[0]


def parse_shape(text: str) -> tuple[int, ...]:
    """``"2,4,32,32"`` -> ``(2, 4, 32, 32)``; refuses anything but n tiles of the model's
    tile shape with 1 <= n <= :data:`MAX_TENSOR_TILES`."""
    try:
        shape = tuple(int(part) for part in text.replace(" ", "").split(","))
    except ValueError as exc:
        raise TensorRejected("tensor shape must be integers separated by commas",
                             got=text[:40]) from exc
    if len(shape) != 1 + len(TILE_SHAPE) or shape[1:] != TILE_SHAPE:
        raise TensorRejected("tensor shape must be n,4,32,32 (tiles, bands, rows, columns)",
                             got=text[:40])
    if not 1 <= shape[0] <= MAX_TENSOR_TILES:
        raise TensorRejected("tensor tile count out of range", got=shape[0],
                             valid=f"1..{MAX_TENSOR_TILES}")
    return shape


def expected_bytes(shape: tuple[int, ...], dtype: str) -> int:
    n = 1
    for dim in shape:
        n *= dim
    return n * DTYPE_BYTES[dtype]


def decode_bytes(packed: bytes, shape: tuple[int, ...], dtype: str) -> UploadedTensor:
    """Inflate ``packed`` (zlib) and check it holds exactly ``shape`` of ``dtype``."""
    if dtype not in DTYPE_BYTES:
        raise TensorRejected("tensor dtype not supported", got=str(dtype)[:20],
                             valid=sorted(DTYPE_BYTES))
    want = expected_bytes(shape, dtype)
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(packed, want + 1)
    except zlib.error as exc:
        raise TensorRejected("tensor is not zlib data", error=str(exc)) from exc
    if len(raw) != want or inflater.unconsumed_tail or not inflater.eof:
        raise TensorRejected("tensor size does not match its shape and dtype",
                             expected_bytes=want,
                             got_bytes=len(raw) if len(raw) <= want else f">{want}")
    return UploadedTensor(raw, shape, dtype)


def check(text: str, shape_text: str, dtype: str) -> UploadedTensor:
    """The executive's check of the three command arguments (see the module doc)."""
    shape = parse_shape(shape_text)
    try:
        packed = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise TensorRejected("tensor is not base64 text", error=str(exc)) from exc
    return decode_bytes(packed, shape, dtype)


def encode(raw: bytes, shape: tuple[int, ...], dtype: str) -> dict[str, str]:
    """The command arguments for a tensor (the ground's side; ``raw`` in C order)."""
    if len(raw) != expected_bytes(shape, dtype):
        raise TensorRejected("raw bytes do not match the shape", expected_bytes=
                             expected_bytes(shape, dtype), got_bytes=len(raw))
    text = base64.b64encode(zlib.compress(raw, 9)).decode("ascii")
    return {"tensor": text, "shape": ",".join(str(d) for d in shape), "dtype": dtype}
