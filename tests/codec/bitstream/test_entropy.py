"""Range coding with Laplace priors: round trips incl. escapes, canonical form, prior bytes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vid2vid.codec.bitstream.entropy import (
    ESCAPE_BITS_MAX,
    SUPPORT,
    byte_to_scale,
    decode_symbols,
    encode_symbols,
    scale_to_byte,
)
from vid2vid.errors import BitstreamError

LIMIT = SUPPORT + (1 << ESCAPE_BITS_MAX) - 1
symbol = st.one_of(
    st.integers(-20, 20),
    st.integers(-LIMIT, LIMIT),
    st.sampled_from([SUPPORT, -SUPPORT, SUPPORT - 1, SUPPORT + 1, LIMIT, -LIMIT]),
)


@given(
    symbols=st.lists(symbol, min_size=1, max_size=80),
    scale=st.floats(0.0625, 4000.0),
)
def test_round_trip_any_symbol(symbols: list[int], scale: float) -> None:
    x = np.array(symbols, dtype=np.int64)
    scales = np.full(len(x), scale)
    data = encode_symbols(x, scales)
    assert not data.endswith(b"\0")
    assert decode_symbols(data, scales).tolist() == symbols


def test_size_is_close_to_the_information_content() -> None:
    rng = np.random.default_rng(0)
    b = 2.0
    x = np.round(rng.laplace(0.0, b, 66)).astype(np.int64)

    def cdf(z: np.ndarray) -> np.ndarray:
        return np.where(z < 0, 0.5 * np.exp(z / b), 1 - 0.5 * np.exp(-z / b))

    bits = -np.log2(cdf(x + 0.5) - cdf(x - 0.5)).sum()
    # The range coder ends on a 32-bit word, of which trailing zero bytes are cut.
    assert bits / 8 <= len(encode_symbols(x, np.full(66, b))) <= bits / 8 + 4


def test_too_large_symbol_is_refused() -> None:
    with pytest.raises(BitstreamError) as caught:
        encode_symbols(np.array([LIMIT + 1]), np.ones(1))
    assert str(caught.value) == f"symbol {LIMIT + 1} exceeds the coder's ±{LIMIT}"


SCALES = np.full(20, 3.0)
DATA = encode_symbols(np.arange(-10, 10), SCALES)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (DATA + b"\x07", f"entropy-coded data has 1 trailing bytes after its {len(DATA)} bytes"),
        (
            DATA[:-1],
            f"entropy-coded data is corrupt: its {len(DATA) - 1} bytes are not a valid coding",
        ),
        (b"", "entropy-coded data is truncated: 0 of 76 bytes"),  # 20 escapes
        (
            DATA[:3] + bytes([DATA[3] ^ 0x10]) + DATA[4:],
            f"entropy-coded data is corrupt: its {len(DATA)} bytes are not a valid coding",
        ),
    ],
)
def test_non_canonical_data_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(BitstreamError) as caught:
        decode_symbols(data, SCALES)
    assert str(caught.value) == message


@given(data=st.binary(max_size=40), scale=st.floats(0.0625, 4000.0))
def test_any_bytes_decode_or_raise_bitstream_error(data: bytes, scale: float) -> None:
    scales = np.full(12, scale)
    try:
        symbols = decode_symbols(data, scales)
    except BitstreamError:
        return
    assert encode_symbols(symbols, scales) == data


@given(byte=st.integers(0, 255))
def test_prior_bytes_round_trip(byte: int) -> None:
    assert scale_to_byte(byte_to_scale(byte)) == byte


def test_prior_bytes_saturate() -> None:
    assert scale_to_byte(0.0) == 0
    assert scale_to_byte(1e9) == 255
    assert byte_to_scale(scale_to_byte(3.0)) == pytest.approx(3.0, rel=0.025)
