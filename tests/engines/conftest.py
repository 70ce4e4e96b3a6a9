"""Shared fixtures of the engine tests: the tiny model and inputs made from it."""

from __future__ import annotations

import pytest
import torch

from vid2vid.codec.checkpoint import LoadedModel, untrained_model


@pytest.fixture(scope="session")
def tiny() -> LoadedModel:
    return untrained_model("tiny")


@pytest.fixture()
def image() -> torch.Tensor:
    generator = torch.Generator().manual_seed(7)
    return torch.rand(1, 3, 64, 64, generator=generator)  # 1 x 3 x H x W
