"""PNG encoding with the standard library alone (zlib + struct), for tiles the payload
sent down: the ground writes what the operator can open in any viewer, and the flight
side never needs an image library.

Only what aisat needs: 8-bit greyscale or RGB, no interlace, filter type 0 on every row
(tiles are 32 x 32: a smarter filter would save bytes no one is paying for here). The
format is the W3C PNG specification's (signature, IHDR, IDAT, IEND; each chunk's CRC-32
over its type and data).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOUR_TYPE = {1: 0, 3: 2}  # channels -> PNG colour type (0 greyscale, 2 truecolour)


class PngError(ValueError):
    """Pixels that cannot be written as a PNG (wrong size or channel count)."""


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def encode(pixels: bytes, width: int, height: int, channels: int) -> bytes:
    """A PNG of ``pixels`` (row-major, ``channels`` bytes per pixel, 1 or 3)."""
    if channels not in COLOUR_TYPE:
        raise PngError(f"channels must be 1 or 3, got {channels}")
    if width < 1 or height < 1:
        raise PngError(f"image must be at least 1 x 1, got {width} x {height}")
    stride = width * channels
    if len(pixels) != stride * height:
        raise PngError(f"{len(pixels)} bytes for {width} x {height} x {channels}")
    rows = b"".join(b"\x00" + pixels[y * stride:(y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, COLOUR_TYPE[channels], 0, 0, 0)
    return (SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows, 9))
            + _chunk(b"IEND", b""))


def write(path: Path, pixels: bytes, width: int, height: int, channels: int) -> Path:
    path.write_bytes(encode(pixels, width, height, channels))
    return path
