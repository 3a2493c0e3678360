"""A minimal PNG reader for tests (8-bit greyscale, RGB, grey+alpha or RGBA, not
interlaced: what Chromium writes), so that screenshots can be checked with the stdlib."""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from dataclasses import dataclass

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


@dataclass(frozen=True)
class Image:
    width: int
    height: int
    channels: int
    rows: list[bytes]  # unfiltered scanlines

    def rgb(self, x: int, y: int) -> tuple[int, int, int]:
        at = x * self.channels
        pixel = self.rows[y][at : at + self.channels]
        if self.channels < 3:
            return (pixel[0], pixel[0], pixel[0])
        return (pixel[0], pixel[1], pixel[2])


def read_png(data: bytes) -> Image:
    """Decode `data`; raises ValueError for anything but the simple PNGs described above."""
    if not data.startswith(_SIGNATURE):
        raise ValueError("not a PNG")
    offset, header, idat = len(_SIGNATURE), b"", []
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        offset += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour not in _CHANNELS or interlace:
        raise ValueError(
            f"unsupported PNG: depth {depth}, colour type {colour}, interlace {interlace}"
        )
    channels = _CHANNELS[colour]
    return Image(
        width, height, channels, _unfilter(zlib.decompress(b"".join(idat)), width, height, channels)
    )


def _unfilter(raw: bytes, width: int, height: int, bpp: int) -> list[bytes]:
    stride = width * bpp
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        at = y * (stride + 1)
        kind, line = raw[at], bytearray(raw[at + 1 : at + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            upper_left = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                line[i] = (line[i] + _paeth(left, up, upper_left)) & 0xFF
            elif kind != 0:
                raise ValueError(f"bad PNG filter {kind}")
        rows.append(bytes(line))
        previous = line
    return rows


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _colour(hex_colour: str) -> tuple[int, int, int]:
    return (int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16))


def pixels_near(counts: Counter[tuple[int, int, int]], hex_colour: str, tolerance: int = 6) -> int:
    target = _colour(hex_colour)
    return sum(
        n
        for rgb, n in counts.items()
        if all(abs(a - b) <= tolerance for a, b in zip(rgb, target, strict=True))
    )


def colour_counts(image: Image) -> Counter[tuple[int, int, int]]:
    """Colours of every other pixel in each direction (a quarter of them is plenty)."""
    return Counter(
        image.rgb(x, y) for y in range(0, image.height, 2) for x in range(0, image.width, 2)
    )
