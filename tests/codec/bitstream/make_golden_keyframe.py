"""Write the golden keyframe files under ``golden/`` from deterministic content.

Run ``python tests/codec/bitstream/make_golden_keyframe.py`` only when the format changes on
purpose; ``test_golden_keyframe.py`` checks the committed files against these builders.

The appearance bytes come from OpenCV (JPEG) and zstd, whose output may differ between library
versions; so the tests re-encode from the committed appearance and compare the rest exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vid2vid.codec.bitstream.chunks import split_keyframe
from vid2vid.codec.bitstream.container import V2VMetadata, V2VWriter
from vid2vid.codec.bitstream.keyframe import AppearanceKind, Keyframe, encode_keyframe_payload
from vid2vid.codec.bitstream.motion_params import MotionParams
from vid2vid.codec.bitstream.volume import pack_volume

GOLDEN = Path(__file__).parent / "golden"
FINGERPRINT = bytes(range(16))
#: Small packets so the tiny JPEG keyframe spans several chunks.
MAX_PACKET = 256
STREAM_ID, FIRST_SEQUENCE, TIMESTAMP_MS, KEYFRAME_ID = 3, 65534, 1234, 7


def synthetic_image() -> np.ndarray:
    """A 32 x 32 BGR gradient with a square: smooth and sharp content, no randomness."""
    y, x = np.mgrid[0:32, 0:32]
    image = np.stack([x * 8, y * 8, (x + y) * 4], axis=-1).astype(np.uint8)  # 32 x 32 x 3
    image[10:20, 12:22] = (255, 255, 255)
    return image


def source_motion() -> MotionParams:
    """Float32-exact values, so the payload holds them without rounding."""
    return MotionParams(
        yaw=12.5,
        pitch=-3.25,
        roll=0.75,
        translation=np.array([0.125, -0.5, 0.0625], dtype=np.float32),
        deformation=np.arange(12, dtype=np.float32).reshape(4, 3) / 64,  # K x 3
        scale=1.5,
    )


def synthetic_volume() -> np.ndarray:
    return (
        np.arange(2 * 2 * 4 * 4, dtype=np.float32).reshape(2, 2, 4, 4) - 31
    ) / 8  # C x D x H x W


def jpeg_keyframe(appearance: bytes) -> Keyframe:
    return Keyframe(FINGERPRINT, 256, AppearanceKind.JPEG, appearance, source_motion())


def volume_keyframe(appearance: bytes, scale: float) -> Keyframe:
    motion = MotionParams(0.0, 0.0, 0.0, np.zeros(3), np.ones((2, 3)))
    canonical = np.linspace(-0.5, 0.5, 6, dtype=np.float32).reshape(2, 3)  # K x 3
    return Keyframe(
        FINGERPRINT,
        512,
        AppearanceKind.VOLUME_INT8_ZSTD,
        appearance,
        motion,
        (2, 2, 4, 4),
        scale,
        canonical,
    )


def metadata() -> V2VMetadata:
    return V2VMetadata(
        fps=30.0,
        fingerprint=FINGERPRINT.hex(),
        num_kp=4,
        has_scale=True,
        model_config={"name": "tiny", "num_kp": 4},
    )


def jpeg_chunks(payload: bytes) -> list[bytes]:
    return split_keyframe(
        payload, STREAM_ID, FIRST_SEQUENCE, TIMESTAMP_MS, KEYFRAME_ID, max_packet=MAX_PACKET
    )


def main() -> None:
    import cv2  # only here: the tests read the committed JPEG bytes

    ok, jpeg = cv2.imencode(".jpg", synthetic_image(), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    payload = encode_keyframe_payload(jpeg_keyframe(jpeg.tobytes()))
    chunks = jpeg_chunks(payload)
    for index, chunk in enumerate(chunks):
        (GOLDEN / f"keyframe_chunk{index}.bin").write_bytes(chunk)
    volume, scale = pack_volume(synthetic_volume(), AppearanceKind.VOLUME_INT8_ZSTD)
    (GOLDEN / "keyframe_volume_int8.bin").write_bytes(
        encode_keyframe_payload(volume_keyframe(volume, scale))
    )
    with V2VWriter(GOLDEN / "keyframe.v2v", metadata()) as writer:
        for chunk in chunks:
            writer.write(chunk)
    print(f"{len(chunks)} chunks of a {len(payload)}-byte payload written to {GOLDEN}")


if __name__ == "__main__":
    main()
