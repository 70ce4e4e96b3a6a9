"""Range coding of integer symbol vectors under zero-mean Laplace priors (constriction).

Each symbol has its own Laplace scale (in symbols). The model is constriction's quantized
Laplace on the bounded support ±:data:`SUPPORT`; the two edge symbols double as escapes: a
symbol with ``|s| >= SUPPORT`` is coded as the edge of its sign, followed by the excess
``|s| - SUPPORT`` as a bit count and raw 16-bit words (uniform models in the same range coder).
The count is sent as ``ESCAPE_BITS_MAX - bits``: zero bytes, which is what a cut-off stream reads
as, decode to the lowest symbol, an escape, and then to a 40-bit excess of 0, which no encoder
writes, so the check below catches them.
So every int up to ±(SUPPORT + 2**ESCAPE_BITS_MAX - 1) round-trips, and the rare huge value costs
a few bytes instead of widening every distribution.

The range coder writes 32-bit words; we send them big-endian with trailing zero bytes cut (the
decoder reads missing bytes as zeros) and accept only that canonical form: :func:`decode_symbols`
re-encodes what it decoded and compares. A range decoder turns any bytes into some symbols, so
without this check appended, cut or flipped bytes would decode to silently wrong motion.
"""

from __future__ import annotations

import math

import constriction
import numpy as np

from vid2vid.errors import BitstreamError

#: Symbols strictly inside ±SUPPORT are coded directly; the edges are escapes.
SUPPORT = 1 << 14
#: The most bits an escape's excess may have.
ESCAPE_BITS_MAX = 40
_CHUNK_BITS = 16

# constriction's native submodules are attributes only, not importable with ``from ... import``.
QuantizedLaplace = constriction.stream.model.QuantizedLaplace
Uniform = constriction.stream.model.Uniform
RangeDecoder = constriction.stream.queue.RangeDecoder
RangeEncoder = constriction.stream.queue.RangeEncoder

_LAPLACE = QuantizedLaplace(-SUPPORT, SUPPORT)
_ESCAPE_BIT_COUNT = Uniform(ESCAPE_BITS_MAX + 1)
_CHUNKS = {bits: Uniform(1 << bits) for bits in range(1, _CHUNK_BITS + 1)}

#: Prior scales travel as one byte each: 2 ** ((byte - SCALE_BYTE_OFFSET) / SCALE_BYTE_PER_OCTAVE),
#: i.e. 0.0625 .. ~3900 symbols in steps of 4.4 %, far finer than a mis-fit costs.
SCALE_BYTE_PER_OCTAVE = 16
SCALE_BYTE_OFFSET = 64


def scale_to_byte(scale: float) -> int:
    """The prior byte nearest to a Laplace scale (in symbols), saturating at 0 and 255."""
    exponent = math.log2(max(scale, 1e-9)) * SCALE_BYTE_PER_OCTAVE + SCALE_BYTE_OFFSET
    return min(255, max(0, round(exponent)))


def byte_to_scale(byte: int) -> float:
    """The Laplace scale (in symbols) a prior byte stands for."""
    return 2.0 ** ((byte - SCALE_BYTE_OFFSET) / SCALE_BYTE_PER_OCTAVE)


def encode_symbols(symbols: np.ndarray, scales: np.ndarray) -> bytes:
    """Range-code ``symbols`` (ints) with zero-mean Laplace priors of the given ``scales``.

    ``scales`` is a float64 array of positive Laplace scales (in symbols), one per symbol.
    """
    symbols = np.asarray(symbols, dtype=np.int64)
    peak = int(np.abs(symbols).max()) if symbols.size else 0
    limit = SUPPORT + (1 << ESCAPE_BITS_MAX) - 1
    if peak > limit:
        raise BitstreamError(f"symbol {peak} exceeds the coder's ±{limit}")
    encoder = RangeEncoder()
    edges = np.clip(symbols, -SUPPORT, SUPPORT) if peak >= SUPPORT else symbols
    encoder.encode(edges.astype(np.int32), _LAPLACE, np.zeros(len(edges)), scales)
    if peak >= SUPPORT:
        for index in np.flatnonzero(np.abs(edges) == SUPPORT):
            excess = abs(int(symbols[index])) - SUPPORT
            bits = excess.bit_length()
            encoder.encode(ESCAPE_BITS_MAX - bits, _ESCAPE_BIT_COUNT)
            for shift in range(0, bits, _CHUNK_BITS):
                width = min(_CHUNK_BITS, bits - shift)
                encoder.encode((excess >> shift) & ((1 << width) - 1), _CHUNKS[width])
    return encoder.get_compressed().astype(">u4").tobytes().rstrip(b"\0")


def decode_symbols(data: bytes, scales: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_symbols` for ``len(scales)`` symbols; int64.

    Raises BitstreamError when ``data`` is not exactly what the encoder writes for the symbols
    it decodes to (trailing, missing or changed bytes).
    """
    padded = bytes(data) + b"\0" * (-len(data) % 4)
    try:
        decoder = RangeDecoder(np.frombuffer(padded, dtype=">u4").astype(np.uint32))
        symbols = decoder.decode(_LAPLACE, np.zeros(len(scales)), scales).astype(np.int64)
        escapes = np.flatnonzero(np.abs(symbols) == SUPPORT) if symbols.size else ()
        for index in escapes:
            bits = ESCAPE_BITS_MAX - int(decoder.decode(_ESCAPE_BIT_COUNT))
            excess = 0
            for shift in range(0, bits, _CHUNK_BITS):
                width = min(_CHUNK_BITS, bits - shift)
                excess |= int(decoder.decode(_CHUNKS[width])) << shift
            symbols[index] += excess if symbols[index] > 0 else -excess
    except Exception as error:  # constriction's own errors on hostile bytes; never let one out
        raise BitstreamError(f"entropy-coded data cannot be decoded: {error}") from error
    canonical = encode_symbols(symbols, scales)
    if canonical != data:
        raise BitstreamError(_mismatch(bytes(data), canonical))
    return symbols


def _mismatch(data: bytes, canonical: bytes) -> str:
    """Why ``data`` is not the canonical coding ``canonical`` of the symbols it decodes to."""
    if data.startswith(canonical):
        return (
            f"entropy-coded data has {len(data) - len(canonical)} trailing bytes"
            f" after its {len(canonical)} bytes"
        )
    if canonical.startswith(data):
        return f"entropy-coded data is truncated: {len(data)} of {len(canonical)} bytes"
    return f"entropy-coded data is corrupt: its {len(data)} bytes are not a valid coding"
