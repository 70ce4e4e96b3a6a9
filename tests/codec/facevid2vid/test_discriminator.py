"""The training discriminator: the original's weights load, every scale judges, gradients flow."""

from __future__ import annotations

import torch

from support.interop import INTEROP, load_manifest, rule_state_dict
from vid2vid.codec.checkpoint import load_state_dict_strict
from vid2vid.codec.config import preset
from vid2vid.codec.facevid2vid.convert import map_discriminator_state
from vid2vid.codec.facevid2vid.multiscale_discriminator import MultiScaleDiscriminator


def test_original_discriminator_loads_as_scale_zero() -> None:
    config = preset("face-vid2vid")
    discriminator = MultiScaleDiscriminator(config.arch, config.num_kp)
    entries = load_manifest(INTEROP / "face-vid2vid" / "manifest.json")["modules"]
    state = rule_state_dict("discriminator", entries["discriminator"]["state_dict"])
    load_state_dict_strict(discriminator, map_discriminator_state(state), "discriminator")
    out = discriminator(torch.rand(1, 3, 256, 256), torch.rand(1, config.num_kp, 3) * 2 - 1)
    assert [tuple(logits.shape) for logits in out.logits] == [(1, 1, 32, 32)]


def test_paper_discriminator_has_two_scales_with_coarser_patches() -> None:
    config = preset("tiny")
    discriminator = MultiScaleDiscriminator(config.arch, config.num_kp, num_scales=2)
    image = torch.rand(2, 3, 64, 64, requires_grad=True)
    out = discriminator(image, torch.rand(2, config.num_kp, 3) * 2 - 1)
    assert [tuple(logits.shape) for logits in out.logits] == [(2, 1, 8, 8), (2, 1, 4, 4)]
    assert len(out.features) == 2 and all(len(f) == 4 for f in out.features)
    sum(logits.mean() for logits in out.logits).backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    assert preset("paper-256").arch.discriminator_scales == 2
