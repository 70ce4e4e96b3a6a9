"""The quality knob: steps per group, error bounds, saturation, validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vid2vid.codec.bitstream.motion_params import Group, MotionLayout
from vid2vid.codec.bitstream.quantize import (
    HALVING_QUALITY,
    RANGES,
    REFERENCE_QUALITY,
    SYMBOL_LIMIT,
    Quantizer,
    check_quality,
    group_step,
)
from vid2vid.errors import ConfigError

LAYOUT = MotionLayout(num_kp=4, has_scale=True)


def test_base_steps_at_reference_quality_and_halving() -> None:
    for group in Group:
        assert group_step(group, REFERENCE_QUALITY) == RANGES[group].base_step
        finer = group_step(group, REFERENCE_QUALITY + HALVING_QUALITY)
        assert finer == pytest.approx(RANGES[group].base_step / 2)
    steps = [group_step(Group.ANGLE, q) for q in range(1, 101)]
    assert all(a > b for a, b in zip(steps, steps[1:], strict=False))


def test_steps_follow_the_wire_order() -> None:
    q = Quantizer(LAYOUT, 50)
    assert q.steps[:3].tolist() == [0.25] * 3
    assert q.steps[3:6].tolist() == [0.002] * 3
    assert q.steps[6:18].tolist() == [0.002] * 12
    assert q.centres[-1] == 1.0  # the scale is coded around 1


@given(
    quality=st.integers(1, 100),
    values=st.lists(st.floats(-1e3, 1e3), min_size=LAYOUT.size, max_size=LAYOUT.size),
)
def test_error_is_at_most_half_a_step(quality: int, values: list[float]) -> None:
    q = Quantizer(LAYOUT, quality)
    x = np.array(values)
    error = np.abs(q.dequantize(q.quantize(x)) - x)
    assert (error <= q.steps / 2 * (1 + 1e-9) + 1e-12).all()


@given(value=st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_value_gives_a_bounded_symbol(value: float) -> None:
    q = Quantizer(LAYOUT, 100)
    symbols = q.quantize(np.full(LAYOUT.size, value))
    assert symbols.dtype == np.int64
    assert (np.abs(symbols) <= SYMBOL_LIMIT).all()
    if abs(value) < 1e3:
        assert (np.abs(q.dequantize(symbols) - value) <= q.steps / 2 * (1 + 1e-9)).all()


@pytest.mark.parametrize(
    ("quality", "message"),
    [
        (0, "quality 0 is out of range 1..100"),
        (101, "quality 101 is out of range 1..100"),
        (50.0, "quality must be an integer, got 50.0"),
        (True, "quality must be an integer, got True"),
    ],
)
def test_bad_quality(quality: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_quality(quality)  # type: ignore[arg-type]
    assert str(caught.value) == message
