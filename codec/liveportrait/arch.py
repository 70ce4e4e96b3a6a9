"""Architecture sizes of the LivePortrait family; the defaults are LivePortrait's released sizes.

The field names say which network they size. Sizes that must agree between networks (the
volume's channels × depth is what the warping module flattens; the warped features are the
generator's input and its segmentation map) are derived, not repeated, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from vid2vid.errors import ConfigError


@dataclass(frozen=True)
class LivePortraitArch:
    """Sizes of F, the motion extractor, the warping module W, the SPADE generator G and the MLPs."""

    # F: appearance feature extractor
    appearance_channels: int = 64  # first conv; doubled by each down block
    appearance_down_blocks: int = 2  # 256 px in -> 64² volume
    volume_channels: int = 32  # C of f_s (C x D x H x W)
    volume_depth: int = 16  # D of f_s
    appearance_resblocks: int = 6
    # Motion extractor: ConvNeXt-V2 and its heads
    convnext_depths: tuple[int, ...] = (3, 3, 9, 3)
    convnext_dims: tuple[int, ...] = (96, 192, 384, 768)
    num_bins: int = 66  # Hopenet-style angle classifier, 3° per bin
    # W: dense motion hourglass, then the 2D projection of the warped volume
    motion_channels: int = 32  # hourglass block expansion
    motion_max_channels: int = 1024
    motion_blocks: int = 5
    motion_compress: int = 4  # f_s is compressed to this many channels before the sparse warps
    kp_variance: float = 0.01  # of the Gaussian keypoint heatmaps
    warped_channels: int = 256  # W's output = G's input and segmentation map
    # G: SPADE generator
    spade_hidden: int = 128
    generator_middle_blocks: int = 6
    generator_channels: int = 64  # after the second up block
    pixel_shuffle: int = 2  # conv_img to 3·r² channels then PixelShuffle(r)
    # Stitching and retargeting MLPs (hidden sizes); optional in converted checkpoints
    stitching: bool = True
    stitching_hidden: tuple[int, ...] = (128, 128, 64)
    lip_hidden: tuple[int, ...] = (128, 128, 64)
    eye_hidden: tuple[int, ...] = (256, 256, 128, 128, 64)

    def __post_init__(self) -> None:
        positive = (
            "appearance_channels",
            "volume_channels",
            "volume_depth",
            "num_bins",
            "motion_channels",
            "motion_max_channels",
            "motion_blocks",
            "motion_compress",
            "warped_channels",
            "spade_hidden",
            "generator_channels",
            "pixel_shuffle",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"arch.{name} must be a positive integer, got {value!r}")
        for name in ("appearance_down_blocks", "appearance_resblocks", "generator_middle_blocks"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"arch.{name} must be a non-negative integer, got {value!r}")
        for name in ("convnext_depths", "convnext_dims"):
            value = getattr(self, name)
            if (
                not isinstance(value, tuple)
                or len(value) != 4
                or not all(isinstance(v, int) and v >= 1 for v in value)
            ):
                raise ConfigError(f"arch.{name} must be 4 positive integers, got {value!r}")
        for name in ("stitching_hidden", "lip_hidden", "eye_hidden"):
            value = getattr(self, name)
            if (
                not isinstance(value, tuple)
                or not value
                or not all(isinstance(v, int) and v >= 1 for v in value)
            ):
                raise ConfigError(
                    f"arch.{name} must be one or more positive integers, got {value!r}"
                )
        if not isinstance(self.kp_variance, (int, float)) or not self.kp_variance > 0:
            raise ConfigError(f"arch.kp_variance must be positive, got {self.kp_variance!r}")
        if not isinstance(self.stitching, bool):
            raise ConfigError(f"arch.stitching must be true or false, got {self.stitching!r}")

    @property
    def volume_features(self) -> int:
        """Channels of F's 2D features before the reshape to a volume: C · D."""
        return self.volume_channels * self.volume_depth

    @property
    def appearance_out_channels(self) -> int:
        """Channels after F's down blocks (64 · 2^n, capped at C · D as in LivePortrait)."""
        return min(self.volume_features, self.appearance_channels * 2**self.appearance_down_blocks)

    @property
    def volume_scale(self) -> int:
        """Input pixels per volume cell along H and W."""
        return 2**self.appearance_down_blocks

    @property
    def output_scale(self) -> int:
        """Output pixels per volume cell: two ×2 up blocks in G, then the pixel shuffle."""
        return 4 * self.pixel_shuffle

    @classmethod
    def tiny(cls) -> LivePortraitArch:
        """About a million parameters (21 keypoints) with every mechanism kept, for CPU tests."""
        return cls(
            appearance_channels=8,
            volume_channels=4,
            volume_depth=4,
            appearance_resblocks=1,
            convnext_depths=(1, 1, 1, 1),
            convnext_dims=(8, 16, 24, 32),
            motion_channels=8,
            motion_max_channels=32,
            motion_blocks=2,
            motion_compress=2,
            warped_channels=16,
            spade_hidden=8,
            generator_middle_blocks=1,
            generator_channels=8,
            stitching_hidden=(16,),
            lip_hidden=(16,),
            eye_hidden=(16,),
        )
