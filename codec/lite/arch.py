"""Architecture sizes of the lite family: a 2D warp of the keyframe image, trainable on a CPU.

The keyframe image itself is the "appearance volume" (3 x 1 x S x S): the decoder moves its
pixels, so sharpness and identity come from the keyframe, and the networks only learn where
pixels go and what to paint where none can come from (the inside of an opening mouth, a
disoccluded cheek). Both networks run at fixed low resolutions whatever the output size:

    M: per-keypoint motion hypotheses + heatmaps at ``motion_size``² -> U-Net -> soft mask over
       K + 1 hypotheses (the flow) and an occlusion map
    G: the warped keyframe, occlusion and flow at ``generator_size``² -> U-Net -> an inpainting
       image and a blend map

and the output at S px is blend · warp(keyframe, flow) + (1 - blend) · inpainting, upsampled
where needed. So 512 px costs little more than 256 px: only the warp and the blend run there.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from vid2vid.errors import ConfigError


@dataclass(frozen=True)
class LiteArch:
    """Sizes of M and G; K and the image sizes live in :class:`ModelConfig`."""

    motion_size: int = 64
    motion_channels: tuple[int, ...] = (32, 64, 128, 128)
    generator_size: int = 128
    generator_channels: tuple[int, ...] = (16, 32, 64, 128, 128)
    #: Gaussian heatmap width around each keypoint, in normalized units ([-1, 1] is 2 wide).
    heatmap_sigma: float = 0.08
    #: n > 0 adds the border ring of an n x n grid over the crop as 4(n - 1) background points
    #: after the face's keypoints (:mod:`~vid2vid.codec.lite.background`); 0 sends the face only.
    background_grid: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple) and (not value or any(c < 1 for c in value)):
                raise ConfigError(f"lite arch {f.name} must be positive widths, got {value}")
        for name, channels in (
            ("motion_size", self.motion_channels),
            ("generator_size", self.generator_channels),
        ):
            size = getattr(self, name)
            if size < 16 or size % (2 ** (len(channels) - 1)):
                raise ConfigError(
                    f"lite arch {name} must be at least 16 and divisible by "
                    f"2^{len(channels) - 1}, got {size}"
                )
        if self.background_grid != 0 and not 2 <= self.background_grid <= 16:
            raise ConfigError(
                f"lite arch background_grid must be 0 or 2..16, got {self.background_grid}"
            )
        if not 0.0 < self.heatmap_sigma < 1.0:
            raise ConfigError(
                f"lite arch heatmap_sigma must be in (0, 1), got {self.heatmap_sigma}"
            )
