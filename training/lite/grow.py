"""Start a lite model with background points from the weights of one without them.

Only the motion network's first and last convolutions depend on K. The grown model computes
exactly what the old one did wherever the background stands still:

* its inputs (K + 1 heatmaps, then K + 1 warped keyframes of 3 channels) gain channels for the
  new points with zero weights, so M first ignores them and learns to read them;
* its outputs (K + 1 mask logits, then the occlusion logit) gain one logit per new point, a copy
  of the identity hypothesis' logit. The identity keeps half of its softmax mass and the E new
  ones share the other half (logits lowered by log 2 and log 2E): a background point that has
  not moved *is* the identity hypothesis, so the mixed flow is unchanged, and where the
  background moves the new hypotheses start with a share worth a gradient.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor

from vid2vid.errors import ConfigError

FIRST = "motion.net.down.0.0.weight"
LAST_WEIGHT = "motion.net.out.weight"
LAST_BIAS = "motion.net.out.bias"


def _grow_inputs(weight: Tensor, old_k: int, new_k: int) -> Tensor:
    """out x (old_k+1)*4 x 3 x 3 -> out x (new_k+1)*4 x 3 x 3, new channels zero."""
    grown = weight.new_zeros(weight.shape[0], (new_k + 1) * 4, *weight.shape[2:])
    grown[:, : old_k + 1] = weight[:, : old_k + 1]  # heatmaps
    old_images = weight[:, old_k + 1 :]
    grown[:, new_k + 1 : new_k + 1 + old_images.shape[1]] = old_images  # warped keyframes
    return grown


def _grow_outputs(tensor: Tensor, old_k: int, new_k: int, is_bias: bool) -> Tensor:
    """(old_k+2) x ... -> (new_k+2) x ...: new mask logits copy the identity's, then occlusion.

    Biases split the identity's mass: half stays, half goes to the new hypotheses."""
    added = new_k - old_k
    identity = tensor[:1] - (math.log(2.0) if is_bias else 0.0)
    new = tensor[:1].expand(added, *tensor.shape[1:]) - (math.log(2.0 * added) if is_bias else 0.0)
    return torch.cat([identity, tensor[1 : old_k + 1], new, tensor[old_k + 1 :]])


def grow_state(state: Mapping[str, Tensor], old_k: int, new_k: int) -> dict[str, Tensor]:
    """The state dict of a lite model with ``old_k`` keypoints, for one with ``new_k`` >= old_k
    (the extra ones background points after the face's)."""
    if new_k < old_k:
        raise ConfigError(f"cannot shrink a lite model from {old_k} to {new_k} keypoints")
    for key in (FIRST, LAST_WEIGHT, LAST_BIAS):
        if key not in state:
            raise ConfigError(f"not a lite model's weights: {key} is missing")
    grown = dict(state)
    grown[FIRST] = _grow_inputs(state[FIRST], old_k, new_k)
    if new_k == old_k:
        return grown
    grown[LAST_WEIGHT] = _grow_outputs(state[LAST_WEIGHT], old_k, new_k, is_bias=False)
    grown[LAST_BIAS] = _grow_outputs(state[LAST_BIAS], old_k, new_k, is_bias=True)
    return grown
