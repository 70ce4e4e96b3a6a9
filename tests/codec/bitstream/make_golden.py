"""Write the golden motion packets under ``golden/`` from deterministic frames.

Run ``python tests/codec/bitstream/make_golden.py`` only when the motion format changes on
purpose; ``test_motion.py`` decodes the committed files and checks that the encoder still writes
them byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vid2vid.codec.bitstream.motion import MotionDecoder, MotionEncoder
from vid2vid.codec.bitstream.motion_params import MotionLayout, MotionParams

GOLDEN = Path(__file__).parent / "golden"
LAYOUT = MotionLayout(num_kp=15, has_scale=True)
QUALITY, STREAM_ID, INTRA_PERIOD = 35, 5, 30
TIMESTAMPS_MS = (1000, 1033)


def golden_frames() -> list[MotionParams]:
    """An intra frame and a slightly moved one, from closed-form values (no randomness)."""
    grid = np.arange(LAYOUT.num_kp * 3, dtype=np.float64).reshape(LAYOUT.num_kp, 3)  # K x 3
    first = MotionParams(
        yaw=12.5,
        pitch=-7.25,
        roll=3.0,
        translation=np.array([0.05, -0.02, 0.001]),
        deformation=0.03 * np.sin(grid),
        scale=1.04,
    )
    second = MotionParams(
        yaw=13.1,
        pitch=-7.0,
        roll=2.8,
        translation=np.array([0.052, -0.021, 0.001]),
        deformation=0.03 * np.sin(grid + 0.2),
        scale=1.035,
    )
    return [first, second]


def golden_packets() -> list[bytes]:
    """The intra and the predicted packet the encoder writes for :func:`golden_frames`."""
    encoder = MotionEncoder(LAYOUT, quality=QUALITY, stream_id=STREAM_ID, intra_period=INTRA_PERIOD)
    return [
        encoder.encode(frame, ms) for frame, ms in zip(golden_frames(), TIMESTAMPS_MS, strict=True)
    ]


def main() -> None:
    intra, predicted = golden_packets()
    (GOLDEN / "motion_intra.bin").write_bytes(intra)
    (GOLDEN / "motion_predicted.bin").write_bytes(predicted)
    decoder = MotionDecoder(LAYOUT)
    expected = [
        {
            "sequence": decoded.header.sequence,
            "timestamp_ms": decoded.header.timestamp_ms,
            "reference_sequence": decoded.reference_sequence,
            "values": LAYOUT.flatten(decoded.params).tolist(),
        }
        for decoded in (decoder.decode(intra), decoder.decode(predicted))
    ]
    (GOLDEN / "motion_expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
