"""Width and height of a JPEG, PNG or WebP key image, read from its header alone.

Why: a key image comes from the network, and an image decoder allocates what the header
declares. A few hundred bytes can declare a 30000 x 30000 picture (an image bomb: gigabytes
of memory before the first pixel is checked). Reading the declared size first lets the
receiver refuse such an image with a :class:`BitstreamError` before any decoder runs.
Standard library only, like the rest of the bitstream.
"""

from __future__ import annotations

import struct

from vid2vid.errors import BitstreamError

#: The largest side a key image may declare. Models take 256 or 512 px crops; 4096 leaves
#: room for a full-resolution portrait while capping memory at 4096^2 x 3 bytes = 48 MiB.
MAX_KEY_IMAGE_SIDE = 4096

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field: TEM, RST0..7, SOI, EOI.
_JPEG_STANDALONE = frozenset([0x01, *range(0xD0, 0xDA)])


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which PNG requires to come first."""
    if len(data) < 24 or data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise BitstreamError("PNG key image has no IHDR header")
    width, height = struct.unpack_from(">II", data, 16)
    return width, height


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the first start-of-frame segment."""
    if data[:2] != b"\xff\xd8":
        raise BitstreamError("JPEG key image does not start with SOI")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise BitstreamError(f"JPEG key image has no marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2:
            raise BitstreamError(f"JPEG key image has a segment of length {length}")
        if marker in _JPEG_SOF:
            if pos + 9 > len(data):
                break
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return width, height
        if marker == 0xDA:  # start of scan before any frame header
            break
        pos += 2 + length
    raise BitstreamError("JPEG key image has no frame header")


def webp_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the first chunk: VP8 (lossy), VP8L (lossless) or VP8X (extended)."""
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise BitstreamError("WEBP key image has no RIFF/WEBP header")
    chunk = data[12:16]
    body = data[20:]
    if chunk == b"VP8 " and body[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", body, 6)
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and body[0] == 0x2F:
        (bits,) = struct.unpack_from("<I", body, 1)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        width = int.from_bytes(body[4:7], "little") + 1
        height = int.from_bytes(body[7:10], "little") + 1
        return width, height
    raise BitstreamError(f"WEBP key image has an unknown first chunk {chunk!r}")


_READERS = {"JPEG": jpeg_size, "PNG": png_size, "WEBP": webp_size}


def check_key_image_size(kind_name: str, data: bytes, limit: int = MAX_KEY_IMAGE_SIDE) -> None:
    """Raise unless the image declares a size of 1..``limit`` pixels on each side."""
    width, height = _READERS[kind_name](data)
    if not (1 <= width <= limit and 1 <= height <= limit):
        raise BitstreamError(
            f"{kind_name} key image declares {width}x{height} pixels, outside 1..{limit} on a side"
        )
