"""Architecture sizes of the face-vid2vid family; the defaults are zhengkw18/face-vid2vid's.

The number of keypoints K and the input/output size live in :class:`ModelConfig`; everything
else that decides a tensor shape lives here, so that a checkpoint's config says how to rebuild
every module. The sizes chain as follows at the defaults (256 px in):

    F: 256² -> down x2 -> 64², 1x1 conv to C·D = 512 -> volume 32 x 16 x 64 x 64
    L: 256² x 0.25 = 64² -> down x5 -> 2², 1x1 conv to 1024·16 -> up x5 -> 15 x 16 x 64 x 64
       (+ 9·15 Jacobian channels with ``estimate_jacobian``)
    M: (K+1)·(4+1) channels on 16 x 64 x 64 -> down x5 (1x2x2) -> up x5 -> mask, occlusion
    G: 512 x 64² -> up x2 (+ ``generator_extra_up``) -> 256² (512² with one extra)
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from vid2vid.errors import ConfigError


@dataclass(frozen=True)
class FaceVid2VidArch:
    """Channel counts and depths of F, L, H+Δ, M, G and the training discriminator D."""

    # F: appearance feature extractor.
    appearance_channels: tuple[int, ...] = (64, 128, 256)
    volume_channels: int = 32
    volume_depth: int = 16
    appearance_res_blocks: int = 6
    # L: canonical keypoint detector (a 2D encoder lifted to a 3D decoder).
    keypoint_scale: float = 0.25
    keypoint_down: tuple[int, ...] = (64, 128, 256, 512, 1024)
    keypoint_up: tuple[int, ...] = (1024, 512, 256, 128, 64, 32)
    keypoint_depth: int = 16
    keypoint_temperature: float = 0.1
    #: L also predicts a 3x3 Jacobian J_c,k per keypoint (paper §3.1, optional); the paper's
    #: ablation and zhengkw18's release go without, so M then uses R_s R_d⁻¹ for every keypoint.
    estimate_jacobian: bool = False
    # H and Δ: ResNet-50-like bottleneck stages; ``head_pose_blocks`` counts the extra blocks
    # after each stage's first, as zhengkw18 does (3, 3, 5, 2 = ResNet-50's 4, 4, 6, 3).
    head_pose_channels: tuple[int, ...] = (64, 256, 512, 1024, 2048)
    head_pose_blocks: tuple[int, ...] = (3, 3, 5, 2)
    num_bins: int = 66
    bin_degrees: float = 3.0
    # M: motion field estimator.
    motion_compressed: int = 4
    motion_down: tuple[int, ...] = (64, 128, 256, 512, 1024)
    motion_up: tuple[int, ...] = (512, 256, 128, 64, 32)
    heatmap_variance: float = 0.01
    # G: generator.
    generator_channels: tuple[int, ...] = (256, 128, 64)
    generator_res_blocks: int = 6
    #: Extra 2x up blocks after ``generator_channels`` (at its last width): 1 gives 512 px.
    generator_extra_up: int = 0
    # D: patch discriminator (training only).
    discriminator_channels: tuple[int, ...] = (64, 128, 256, 512)
    discriminator_scales: int = 1

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(f.default, bool):
                if not isinstance(value, bool):
                    raise ConfigError(f"arch.{f.name} must be true or false, got {value!r}")
            elif isinstance(value, tuple):
                low = 0 if f.name == "head_pose_blocks" else 1
                if not value or any(not isinstance(v, int) or v < low for v in value):
                    raise ConfigError(
                        f"arch.{f.name} must be a non-empty tuple of ints >= {low}, got {value!r}"
                    )
            elif isinstance(value, float):
                if not value > 0:
                    raise ConfigError(f"arch.{f.name} must be positive, got {value!r}")
            elif f.name in ("generator_extra_up", "appearance_res_blocks", "generator_res_blocks"):
                if not isinstance(value, int) or value < 0:
                    raise ConfigError(f"arch.{f.name} must be an int >= 0, got {value!r}")
            elif not isinstance(value, int) or value < 1:
                raise ConfigError(f"arch.{f.name} must be a positive int, got {value!r}")
        if len(self.appearance_channels) < 1:
            raise ConfigError(f"arch.appearance_channels is empty: {self.appearance_channels!r}")
        if len(self.keypoint_up) != len(self.keypoint_down) + 1:
            raise ConfigError(
                "arch.keypoint_up must have one entry more than arch.keypoint_down "
                f"(the lifted volume's channels first), got {self.keypoint_up!r}"
            )
        if len(self.motion_up) != len(self.motion_down):
            raise ConfigError(
                f"arch.motion_up must have as many entries as arch.motion_down, got {self.motion_up!r}"
            )
        if len(self.head_pose_blocks) != len(self.head_pose_channels) - 1:
            raise ConfigError(
                "arch.head_pose_blocks needs one entry per stage "
                f"({len(self.head_pose_channels) - 1}), got {self.head_pose_blocks!r}"
            )
        for i, c in enumerate(self.head_pose_channels[1:]):
            if c % 4:
                raise ConfigError(
                    f"arch.head_pose_channels[{i + 1}] must be divisible by 4 (bottleneck width), got {c}"
                )
        if len(self.discriminator_channels) < 2:
            raise ConfigError(
                f"arch.discriminator_channels needs at least 2 entries, got {self.discriminator_channels!r}"
            )
        if self.num_bins < 2:
            raise ConfigError(f"arch.num_bins must be at least 2, got {self.num_bins}")

    # -- derived sizes ---------------------------------------------------------------------
    @property
    def appearance_stride(self) -> int:
        """Input pixels per volume cell: F halves the image once per down block."""
        return 2 ** (len(self.appearance_channels) - 1)

    @property
    def generator_upscale(self) -> int:
        """Output pixels per volume cell."""
        return 2 ** (len(self.generator_channels) - 1 + self.generator_extra_up)

    @property
    def angle_offset_degrees(self) -> float:
        """``(E − n_bins // 2) · bin_degrees``: the bin expectation's zero (99° by default)."""
        return (self.num_bins // 2) * self.bin_degrees

    @classmethod
    def small(cls) -> FaceVid2VidArch:
        """About 3.6 M parameters (7 MB in fp16): the paper's layout, narrowed so a trained one
        can ship inside the package and its motion extractor runs in real time on a CPU.

        256 px in and out, a 16 x 8 x 64 x 64 volume; the head-pose network is a quarter of the
        paper's width with one block per stage.
        """
        return cls(
            appearance_channels=(32, 64, 128),
            volume_channels=16,
            volume_depth=8,
            appearance_res_blocks=2,
            keypoint_down=(32, 64, 128, 256),
            keypoint_up=(128, 64, 32, 32, 16),
            keypoint_depth=8,
            head_pose_channels=(16, 32, 64, 128, 256),
            head_pose_blocks=(1, 1, 1, 1),
            motion_down=(32, 64, 128),
            motion_up=(64, 32, 32),
            generator_channels=(128, 64, 32),
            generator_res_blocks=2,
            discriminator_channels=(32, 64, 128, 128),
        )

    @classmethod
    def tiny(cls) -> FaceVid2VidArch:
        """A few hundred thousand parameters: 64 px in, a 4 x 4 x 16 x 16 volume, 64 px out."""
        return cls(
            appearance_channels=(8, 16, 16),
            volume_channels=4,
            volume_depth=4,
            appearance_res_blocks=1,
            keypoint_scale=0.5,
            keypoint_down=(8, 16, 32),
            keypoint_up=(16, 16, 8, 8),
            keypoint_depth=4,
            head_pose_channels=(8, 16, 32, 64, 128),
            head_pose_blocks=(0, 0, 0, 0),
            motion_compressed=2,
            motion_down=(16, 32, 64),
            motion_up=(32, 16, 16),
            generator_channels=(32, 16, 8),
            generator_res_blocks=1,
            discriminator_channels=(8, 16, 32, 32),
        )
