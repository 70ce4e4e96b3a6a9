"""The building blocks every face-vid2vid network is made of (zhengkw18's layout).

The attribute names (``layers``, ``down_sample``) are what the original's state dicts use, so a
converted checkpoint loads by a plain prefix rename. A block's ``pattern`` spells its op order:
C = convolution, N = normalization, A = activation ("CNA" for a plain layer, "NAC" inside
residual blocks, "CN" before a residual sum).
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn
from torch.nn.utils import spectral_norm

Norm = Literal["batch", "instance", "none"]
Activation = Literal["relu", "leakyrelu"]


def _norm(kind: Norm, channels: int, dim: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels) if dim == 2 else nn.BatchNorm3d(channels)
    if kind == "instance":
        return (
            nn.InstanceNorm2d(channels, affine=True)
            if dim == 2
            else nn.InstanceNorm3d(channels, affine=True)
        )
    return nn.Identity()


def _activation(kind: Activation) -> nn.Module:
    return nn.ReLU() if kind == "relu" else nn.LeakyReLU(0.2)


class ConvBlock(nn.Module):
    """Conv, norm and activation in the order of ``pattern``; 2D or 3D.

    The norm has the conv's output channels when it follows the conv, else its input's.
    ``spectral`` wraps the conv in spectral normalization (W / σ), as G and D use.
    """

    def __init__(
        self,
        pattern: str,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        *,
        dim: int = 2,
        norm: Norm = "batch",
        activation: Activation = "relu",
        spectral: bool = False,
    ) -> None:
        super().__init__()
        norm_channels = out_channels if pattern.find("C") < pattern.find("N") else in_channels
        conv_cls = nn.Conv2d if dim == 2 else nn.Conv3d
        layers: list[nn.Module] = []
        for op in pattern:
            if op == "C":
                conv = conv_cls(in_channels, out_channels, kernel_size, stride, padding)
                layers.append(spectral_norm(conv) if spectral else conv)
            elif op == "N":
                layers.append(_norm(norm, norm_channels, dim))
            elif op == "A":
                layers.append(_activation(activation))
            else:
                raise ValueError(f"unknown op {op!r} in conv block pattern {pattern!r}")
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class DownBlock(nn.Module):
    """3x3 CNA then average pooling: 2x2 in 2D, 1x2x2 in 3D (depth is kept)."""

    def __init__(
        self, in_channels: int, out_channels: int, *, dim: int = 2, spectral: bool = False
    ) -> None:
        super().__init__()
        pool = nn.AvgPool2d((2, 2)) if dim == 2 else nn.AvgPool3d((1, 2, 2))
        self.layers = nn.Sequential(
            ConvBlock("CNA", in_channels, out_channels, 3, 1, 1, dim=dim, spectral=spectral), pool
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class UpBlock(nn.Module):
    """Nearest upsampling (2x2 in 2D, 1x2x2 in 3D) then 3x3 CNA."""

    def __init__(
        self, in_channels: int, out_channels: int, *, dim: int = 2, spectral: bool = False
    ) -> None:
        super().__init__()
        scale = (2.0, 2.0) if dim == 2 else (1.0, 2.0, 2.0)
        self.layers = nn.Sequential(
            nn.Upsample(scale_factor=scale, mode="nearest"),
            ConvBlock("CNA", in_channels, out_channels, 3, 1, 1, dim=dim, spectral=spectral),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class ResBlock(nn.Module):
    """x + NAC(NAC(x)) with 3x3 convs: the pre-activation residual block of F and G."""

    def __init__(self, channels: int, *, dim: int = 2, spectral: bool = False) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            ConvBlock("NAC", channels, channels, 3, 1, 1, dim=dim, spectral=spectral),
            ConvBlock("NAC", channels, channels, 3, 1, 1, dim=dim, spectral=spectral),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.layers(x)


class Bottleneck(nn.Module):
    """ResNet bottleneck (1x1, 3x3 with the stride, 1x1 at 4x width) with a projection shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        width = out_channels // 4
        self.down_sample: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.down_sample = ConvBlock("CN", in_channels, out_channels, 1, stride, 0)
        self.layers = nn.Sequential(
            ConvBlock("CNA", in_channels, width, 1, 1, 0),
            ConvBlock("CNA", width, width, 3, stride, 1),
            ConvBlock("CN", width, out_channels, 1, 1, 0),
        )
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.down_sample(x) + self.layers(x))
