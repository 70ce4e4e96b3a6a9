"""What ``vid2vid-bench`` runs, as one frozen config: shared by the benchmark and its report.

Its own module so that :mod:`vid2vid.bench.report` can read the options without importing
:mod:`vid2vid.bench.bandwidth`, which imports the report (an import circle before).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vid2vid.bench.ffmpeg_codecs import CODECS, CodecSpec
from vid2vid.bench.neural_codec import KEYFRAME_FORMS
from vid2vid.bench.wire_model import ACK_POLICIES, DataChannelModel
from vid2vid.codec.bitstream.motion import DEFAULT_QUALITY
from vid2vid.codec.stream.encoder import MAX_MOTION_EVERY
from vid2vid.errors import ConfigError

DEFAULT_QUALITIES = (5, 20, DEFAULT_QUALITY, 70)


@dataclass(frozen=True)
class BenchOptions:
    """What to run; built from the command line."""

    clips: tuple[Path, ...]
    output: Path
    weights: Path | None = None
    config: str = "paper-256"
    codecs: tuple[str, ...] = ("x264", "x265", "av1")
    resolutions: tuple[int, ...] = (256,)
    call_seconds: float = 60.0
    keyframes: tuple[str, ...] = ("image", "volume")
    qualities: tuple[int, ...] = DEFAULT_QUALITIES
    crfs: tuple[int, ...] | None = None  # overrides every codec's CRF sweep
    x264_kbps: tuple[float, ...] | None = None  # overrides x264's bit-rate targets
    max_frames: int | None = None
    motion_every: int = 1  # StreamConfig.motion_every: the decoder fills the frames between
    wire_pack: int = 1  # the call's default (sender --pack)
    wire_ack: str = "lazy"  # the call's default (vid2vid.call.sack.CALL_POLICY)
    face_stride: int = 5
    identity_stride: int = 25
    strip_frames: int = 4

    def __post_init__(self) -> None:
        for codec in self.codecs:
            if codec not in CODECS:
                raise ConfigError(f"unknown codec {codec!r}; choose from {', '.join(CODECS)}")
        for form in self.keyframes:
            if form not in KEYFRAME_FORMS:
                raise ConfigError(f"unknown keyframe form {form!r}; choose image or volume")
        if not self.resolutions or any(r < 32 for r in self.resolutions):
            raise ConfigError(f"--res must be sizes of at least 32 px, got {self.resolutions}")
        if self.call_seconds <= 0:
            raise ConfigError(f"--call-seconds must be positive, got {self.call_seconds}")
        if any(not 1 <= q <= 100 for q in self.qualities):
            raise ConfigError(f"--qualities must be in 1..100, got {self.qualities}")
        if self.max_frames is not None and self.max_frames < 2:
            raise ConfigError(f"--max-frames must be at least 2, got {self.max_frames}")
        if self.face_stride < 1 or self.identity_stride % self.face_stride:
            raise ConfigError(
                f"--face-stride must be at least 1 and divide --identity-stride, got "
                f"{self.face_stride} and {self.identity_stride}"
            )

        if not 1 <= self.motion_every <= MAX_MOTION_EVERY:
            raise ConfigError(
                f"--motion-every must be in 1..{MAX_MOTION_EVERY}, got {self.motion_every}"
            )
        if self.wire_ack not in ACK_POLICIES:
            raise ConfigError(
                f"--wire-ack must be one of {', '.join(ACK_POLICIES)}, got {self.wire_ack!r}"
            )
        self.wire_model()  # checks --wire-pack

    def wire_model(self) -> DataChannelModel:
        """vid2vid's data channel as the call runs it: the pack and SACK settings, and the
        receiver's link report (its heartbeat too) once a second."""
        return DataChannelModel(self.wire_pack, ACK_POLICIES[self.wire_ack])

    def wire_meta(self) -> dict:
        """The wire figures' settings, for the report."""
        model = self.wire_model()
        return {
            "vid2vid": f"data channel, pack {model.pack}, {self.wire_ack} SACKs"
            + (f" ({model.ack.label})" if model.ack else " (one per packet)")
            + f", a {model.report_bytes}-byte link report back every {model.report_s:g} s "
            "(also the heartbeat), ICE consent",
            "x264": "RTP/SRTP as aiortc sends it (STAP-A/FU-A, abs-send-time + mid, "
            "AEAD-GCM tag), RTCP SR/SDES forward, RR + REMB back, ICE consent",
            "layer": "IP (IPv4 + UDP headers counted); the intra part spread over the call",
        }

    def codec_spec(self, name: str) -> CodecSpec:
        spec = CODECS[name]
        if self.crfs is not None:
            spec = CodecSpec(spec.name, spec.encoder, spec.raw_format, spec.options, self.crfs,
                             spec.kbps)  # fmt: skip
        if self.x264_kbps is not None and name == "x264":
            spec = CodecSpec(spec.name, spec.encoder, spec.raw_format, spec.options, spec.crfs,
                             self.x264_kbps)  # fmt: skip
        return spec
