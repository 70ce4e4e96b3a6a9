"""LivePortrait's stitching and retargeting MLPs (Linear + ReLU per hidden size, Linear out)."""

from __future__ import annotations

from torch import Tensor, nn


class StitchingMLP(nn.Module):
    """A plain MLP; the three instances differ only in sizes and in what their inputs mean.

    stitching: [x_s, x_d] flattened (6K) -> K×3 keypoint offsets and a 2D shift (3K + 2);
    lip: [x_s, lip ratios] (3K + 2) -> K×3; eye: [x_s, eye ratios] (3K + 3) -> K×3.
    """

    def __init__(self, in_features: int, hidden: tuple[int, ...], out_features: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, out_features))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(x)
