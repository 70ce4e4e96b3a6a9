"""The multi-scale perceptual loss: L1 between VGG19 features of the prediction and the target.

:class:`Vgg19Features` is torchvision's ``vgg19().features`` written out here (torchvision is
not a dependency), with the same module indices, so a torchvision VGG19 state dict
(``features.0.weight`` … ``features.34.bias``; ``classifier.*`` is ignored) loads into it by name.
Nothing is downloaded: the weights file is given by path (``--vgg``), ``.pth`` read with
``torch.load(weights_only=True)`` or ``.safetensors``. Features are taken after relu1_1, relu2_1,
relu3_1, relu4_1 and relu5_1 on ImageNet-normalized input, at image scales 1, 1/2, 1/4, 1/8,
as first-order-model and face-vid2vid do.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vid2vid.errors import CheckpointError

log = logging.getLogger(__name__)

#: torchvision's VGG19 layout: channels of each 3x3 conv, "M" a 2x2 max-pool.
_VGG19 = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")  # fmt: skip
#: Indices (in ``features``) of the ReLUs after conv1_1, conv2_1, conv3_1, conv4_1, conv5_1.
RELU_OUTPUTS = (1, 6, 11, 20, 29)
#: Smallest input side that still has a relu5_1 map (four 2x2 pools).
MIN_SIDE = 16
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class Vgg19Features(nn.Module):
    """VGG19's convolutional part up to relu5_1, returning the five relu*_1 maps."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for spec in _VGG19:
            if spec == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(spec), 3, padding=1), nn.ReLU(inplace=False)]
                channels = int(spec)
        self.features = nn.Sequential(*layers[: RELU_OUTPUTS[-1] + 1])
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)

    def forward(self, image: Tensor) -> list[Tensor]:
        """B x 3 x H x W RGB in [0, 1] -> five feature maps."""
        x = (image - self.mean) / self.std
        outputs = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in RELU_OUTPUTS:
                outputs.append(x)
        return outputs


def load_vgg19(path: str | Path) -> Vgg19Features:
    """A :class:`Vgg19Features` from a torchvision-style VGG19 state dict (.pth or .safetensors)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"VGG19 weights not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a foreign file can fail the loader in any way
        raise CheckpointError(
            f"{path}: unreadable VGG19 weights ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a VGG19 state dict (got {type(state).__name__})")
    model = Vgg19Features()
    expected = model.state_dict()
    used = {}
    for key, value in expected.items():
        if key not in state:
            raise CheckpointError(
                f"{path}: missing key {key!r} (a torchvision vgg19 state dict is expected)"
            )
        if tuple(state[key].shape) != tuple(value.shape):
            raise CheckpointError(
                f"{path}: key {key!r} has shape {tuple(state[key].shape)}, VGG19 expects {tuple(value.shape)}"
            )
        used[key] = state[key]
    model.load_state_dict(used)
    log.info(
        "VGG19 perceptual loss: %d tensors from %s (%d unused)",
        len(used),
        path,
        len(state) - len(used),
    )
    return model.eval()


class MultiScalePerceptualLoss(nn.Module):
    """Σ_scales Σ_layers mean |VGG_l(ŷ_s) − VGG_l(y_s)|, layer weights ``weights`` (all 1 by default).

    The target's features carry no gradient; VGG's own weights are frozen.
    """

    def __init__(
        self,
        vgg: Vgg19Features,
        scales: Sequence[float] = (1.0, 0.5, 0.25, 0.125),
        weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0, 1.0),
    ) -> None:
        super().__init__()
        self.vgg = vgg.eval()
        self.scales = tuple(scales)
        self.weights = tuple(weights)

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        total = prediction.new_zeros(())
        for scale in self.scales:
            if prediction.shape[-1] * scale < MIN_SIDE:
                continue  # relu5_1 is 16x smaller than its input
            if scale == 1.0:
                pred, real = prediction, target
            else:
                pred = F.interpolate(
                    prediction,
                    scale_factor=scale,
                    mode="bilinear",
                    align_corners=False,
                    antialias=True,
                )
                real = F.interpolate(
                    target, scale_factor=scale, mode="bilinear", align_corners=False, antialias=True
                )
            with torch.no_grad():
                real_features = self.vgg(real)
            for weight, fake, true in zip(self.weights, self.vgg(pred), real_features, strict=True):
                total = total + weight * (fake - true).abs().mean()
        return total
