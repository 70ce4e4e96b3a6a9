"""vid2vid.codec.stream: the one place where packets are made and read.

:class:`StreamEncoder` turns face crops into keyframe chunks and motion packets,
:class:`StreamDecoder` turns packets back into frames; both reach the networks only through a
:class:`Runtime` (keyframe side included), so a GPU engine runs everything it can. The offline
commands, the live call and the benchmarks all go through these two classes.
"""

from vid2vid.codec.stream.decoder import (
    DecodeReport,
    LoadedKeyframe,
    StreamDecoder,
    driving_keypoints,
)
from vid2vid.codec.stream.dispatch import (
    KeyframeChunk,
    MotionPacket,
    OtherPacket,
    Packet,
    PacketDispatcher,
)
from vid2vid.codec.stream.encoder import (
    Counters,
    FrameMotion,
    StreamConfig,
    StreamEncoder,
    intra_period_frames,
)
from vid2vid.codec.stream.keyframes import (
    DEFAULT_IMAGE_QUALITY,
    DEFAULT_KEYFRAME,
    KEYFRAME_KINDS,
    KeyframeForm,
    SenderKeyframe,
    keyframe_features,
    make_keyframe,
    make_sender_keyframe,
)
from vid2vid.codec.stream.runtime import Runtime

__all__ = [
    "DEFAULT_IMAGE_QUALITY",
    "DEFAULT_KEYFRAME",
    "KEYFRAME_KINDS",
    "Counters",
    "DecodeReport",
    "FrameMotion",
    "KeyframeChunk",
    "KeyframeForm",
    "LoadedKeyframe",
    "MotionPacket",
    "OtherPacket",
    "Packet",
    "PacketDispatcher",
    "Runtime",
    "SenderKeyframe",
    "StreamConfig",
    "StreamDecoder",
    "StreamEncoder",
    "intra_period_frames",
    "driving_keypoints",
    "keyframe_features",
    "make_keyframe",
    "make_sender_keyframe",
]
