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


@pytest.fixture(scope="session")
def settled() -> LoadedModel:
    """The tiny model with converged spectral norms, as any trained checkpoint has them."""
    from vid2vid.engines.export import settled_untrained

    return settled_untrained(untrained_model("tiny"))


def portrait_tensors(size: int, count: int = 1) -> list[torch.Tensor]:
    """Real portraits from ../shared/data as 1 x 3 x size x size tensors; empty when absent."""
    import cv2

    from vid2vid.codec.imageio import frames_to_tensor

    paths = portrait_paths(count)
    images = []
    for path in paths:
        image = cv2.imread(str(path))
        side = min(image.shape[:2])
        square = image[:side, :side]
        images.append(frames_to_tensor([cv2.resize(square, (size, size))]))
    return images


def portrait_paths(count: int = 1) -> list:
    from support.interop import DATA

    return sorted((DATA / "portraits").glob("*.jpg"))[:count]


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """``vid2vid-engines export --config tiny``: all four ONNX files, verified in ORT on random
    inputs and a real portrait (when ../shared/data has one). Returns (folder, graphs, real)."""
    import json

    from vid2vid.engines.cli import main
    from vid2vid.engines.export import GraphFile

    folder = tmp_path_factory.mktemp("onnx")
    images = [str(p) for p in portrait_paths()]
    assert main(["export", "--config", "tiny", "-o", str(folder), "--images", *images]) == 0
    manifest = json.loads((folder / "manifest.json").read_text())
    graphs = {key: GraphFile(**value) for key, value in manifest["graphs"].items()}
    return folder, graphs, bool(images)


@pytest.fixture(scope="session")
def portraits(settled) -> list[torch.Tensor]:
    """Real portraits at the tiny model's input size; the test skips where there are none."""
    images = portrait_tensors(settled.config.input_size)
    if not images:
        pytest.skip("no real portraits in ../shared/data/portraits")
    return images
