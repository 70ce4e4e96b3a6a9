"""Keyframes through the runtime: a face crop to a :class:`Keyframe`, and back to f_s and x_c.

Both directions run F and L (and H for the source pose) through the :class:`Runtime`, so a GPU
engine runs the keyframe side too; nothing here touches a model's weights. The sender
(:class:`~vid2vid.codec.stream.encoder.StreamEncoder`) and the receiver
(:class:`~vid2vid.codec.stream.decoder.StreamDecoder`) are the callers.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor

from vid2vid.codec.bitstream.keyframe import AppearanceKind, Keyframe
from vid2vid.codec.bitstream.volume import pack_volume, unpack_volume
from vid2vid.codec.config import volume_shape
from vid2vid.codec.imageio import frames_to_tensor
from vid2vid.codec.keyframe_image import decode_key_image, encode_key_image
from vid2vid.codec.stream.runtime import Runtime
from vid2vid.codec.talking_head import KeyframeFeatures
from vid2vid.codec.wire import layout_for, motion_to_params, params_to_motion
from vid2vid.errors import BitstreamError, ConfigError

KeyframeForm = Literal["jpeg", "webp", "png", "volume-int8", "volume-fp16"]
#: The keyframe forms a sender may choose (``--keyframe``), and how each is coded.
KEYFRAME_KINDS: dict[str, AppearanceKind] = {
    "jpeg": AppearanceKind.JPEG,
    "webp": AppearanceKind.WEBP,
    "png": AppearanceKind.PNG,
    "volume-int8": AppearanceKind.VOLUME_INT8_ZSTD,
    "volume-fp16": AppearanceKind.VOLUME_FP16_ZSTD,
}
#: The key image a sender sends unless told otherwise. On the first 512 px crops of the 13
#: held-out and shared clips WebP q80 averaged 8.8 KB at 42.7 dB against the crop, JPEG q90
#: 28.1 KB at 46.8 dB; the rebuilt frames, 20-30 dB from the truth, cannot show the difference,
#: and a third of the bytes is a third of the wait before the first frame.
DEFAULT_KEYFRAME: KeyframeForm = "webp"
DEFAULT_IMAGE_QUALITY = 80


class SenderKeyframe(NamedTuple):
    """A keyframe as its sender made it, with the image its frames' motion is measured against.

    ``reference`` is what the receiver sees of the keyframe: an image keyframe's key image as the
    receiver decodes it, a volume keyframe's crop (1 x 3 x H x W, RGB in [0, 1], on the CPU).
    Every driving frame's motion is measured against it (:meth:`Runtime.extract_motion`), until
    a new keyframe replaces it.
    """

    keyframe: Keyframe
    reference: Tensor  # 1 x 3 x H x W


def make_keyframe(
    runtime: Runtime,
    fingerprint: str,
    image: np.ndarray,
    form: KeyframeForm = DEFAULT_KEYFRAME,
    image_quality: int = DEFAULT_IMAGE_QUALITY,
) -> Keyframe:
    """The keyframe of ``image`` (a BGR face crop at the model's input size) as ``form``.

    An image keyframe's source motion is measured on the image as the receiver will decode it,
    not on the camera's pixels, so both ends pose the same source keypoints. A sender that goes
    on to measure frames against it wants :func:`make_sender_keyframe`.
    """
    return make_sender_keyframe(runtime, fingerprint, image, form, image_quality).keyframe


def make_sender_keyframe(
    runtime: Runtime,
    fingerprint: str,
    image: np.ndarray,
    form: KeyframeForm = DEFAULT_KEYFRAME,
    image_quality: int = DEFAULT_IMAGE_QUALITY,
) -> SenderKeyframe:
    """:func:`make_keyframe`, with the reference image the sender's motion is measured against.

    The keyframe's own source motion is measured without a reference (it is its own).
    """
    config = runtime.config
    kind = KEYFRAME_KINDS[form]
    layout = layout_for(config)
    if kind.is_volume:
        if getattr(config.arch, "estimate_jacobian", False):
            raise ConfigError(
                "volume keyframes do not carry Jacobians yet; use an image keyframe with this model"
            )
        crop = frames_to_tensor([image])  # 1 x 3 x H x W
        features = runtime.encode_keyframe(crop)
        volume = features.volume[0].detach().to("cpu", torch.float32).numpy()  # C x D x H x W
        data, scale = pack_volume(volume, kind)
        keyframe = Keyframe(
            fingerprint=bytes.fromhex(fingerprint),
            output_size=config.output_size,
            kind=kind,
            appearance=data,
            source_motion=motion_to_params(features.motion, layout)[0],
            volume_shape=tuple(volume.shape),  # type: ignore[arg-type]
            volume_scale=scale,
            canonical=features.canonical[0].detach().to("cpu", torch.float32).numpy(),  # K x 3
        )
        return SenderKeyframe(keyframe, crop)
    data = encode_key_image(image, kind, image_quality)
    decoded = frames_to_tensor([decode_key_image(data, kind)])  # 1 x 3 x H x W
    keyframe = Keyframe(
        fingerprint=bytes.fromhex(fingerprint),
        output_size=config.output_size,
        kind=kind,
        appearance=data,
        source_motion=motion_to_params(runtime.extract_motion(decoded), layout)[0],
    )
    return SenderKeyframe(keyframe, decoded)


def keyframe_features(runtime: Runtime, keyframe: Keyframe) -> KeyframeFeatures:
    """f_s and x_c of a received keyframe (F and L on its image, or the shipped volume placed
    once where the runtime decodes), with the sender's measured source motion."""
    config = runtime.config
    if keyframe.kind.is_volume:
        assert keyframe.volume_shape is not None and keyframe.canonical is not None
        volume = unpack_volume(
            keyframe.appearance, keyframe.volume_shape, keyframe.kind, keyframe.volume_scale
        )
        expected = volume_shape(config)
        if tuple(volume.shape) != expected:
            raise BitstreamError(
                f"keyframe volume has shape {tuple(volume.shape)}, this model's is {expected}"
            )
        placed = runtime.place_volume(torch.from_numpy(volume)[None])  # 1 x C x D x H x W
        canonical = torch.from_numpy(keyframe.canonical)[None].to(placed.device)  # 1 x K x 3
        motion = params_to_motion([keyframe.source_motion], placed.device)
        return KeyframeFeatures(placed, canonical.float(), motion)
    image = frames_to_tensor([decode_key_image(keyframe.appearance, keyframe.kind)])
    size = config.input_size
    if image.shape[-2:] != (size, size):
        raise BitstreamError(
            f"keyframe image is {image.shape[-1]}x{image.shape[-2]}, the model takes {size}x{size}"
        )
    features = runtime.encode_keyframe(image)
    motion = params_to_motion([keyframe.source_motion], features.canonical.device)
    return features._replace(motion=motion)
