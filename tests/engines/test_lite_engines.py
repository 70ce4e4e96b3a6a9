"""The lite family under ONNX Runtime: only its decoder is a graph; dlib runs in Python."""

from __future__ import annotations

import pytest
import torch

from support.interop import DATA, require
from vid2vid.codec.checkpoint import untrained_model
from vid2vid.codec.clip import FaceClip
from vid2vid.codec.imageio import frames_to_tensor
from vid2vid.engines import open_runtime
from vid2vid.engines.export import TOLERANCE, export_all, export_graph
from vid2vid.errors import ConfigError


@pytest.fixture(scope="module")
def crops() -> torch.Tensor:
    clip = FaceClip(require(DATA / "clips" / "lp_d10.mp4"), 64, 30)
    return frames_to_tensor([c.image for c in clip][::10])  # 3 x 3 x 64 x 64


def test_only_the_decoder_is_exported_and_it_matches_pytorch(tmp_path) -> None:
    loaded = untrained_model("lite-tiny")
    graphs = export_all(loaded, tmp_path)
    assert set(graphs) == {"decoder", "decoder_planar"}
    assert all(
        g.max_rel_error is not None and g.max_rel_error <= TOLERANCE for g in graphs.values()
    )
    with pytest.raises(ConfigError, match="not a network"):
        export_graph(loaded.model, "motion", tmp_path / "motion.onnx")


def test_onnx_runtime_runs_the_whole_codec(tmp_path, monkeypatch, crops) -> None:
    monkeypatch.setenv("VID2VID_CACHE", str(tmp_path))
    loaded = untrained_model("lite-tiny")
    reference = open_runtime(loaded, "torch")
    onnx = open_runtime(loaded, "onnx")
    keyframe = onnx.encode_keyframe(crops[:1])
    want = reference.encode_keyframe(crops[:1])
    assert torch.equal(keyframe.volume, want.volume) and torch.equal(
        keyframe.canonical, want.canonical
    )
    motion, want_motion = onnx.extract_motion(crops), reference.extract_motion(crops)
    for got, expected in zip(motion, want_motion, strict=True):
        assert torch.allclose(got, expected)
    model = loaded.model
    source = model.pose(keyframe.canonical, keyframe.motion)
    driving = model.pose(keyframe.canonical.expand(3, -1, -1), motion)
    volume = keyframe.volume.expand(3, -1, -1, -1, -1)
    got = onnx.decode(
        volume,
        source._replace(
            points=source.points.expand(3, -1, -1), rotation=source.rotation.expand(3, -1, -1)
        ),
        driving,
    )
    expected = reference.decode(
        volume,
        source._replace(
            points=source.points.expand(3, -1, -1), rotation=source.rotation.expand(3, -1, -1)
        ),
        driving,
    )
    assert got.shape == (3, 3, 64, 64)
    assert (got - expected).abs().max() < 1e-4


def test_every_engine_hands_the_keyframe_reference_to_the_background_flow(
    tmp_path, monkeypatch, crops
) -> None:
    """With background points, a frame's motion depends on the keyframe it is measured against:
    the engines pass ``reference`` on to the Python stages, unchanged."""
    monkeypatch.setenv("VID2VID_CACHE", str(tmp_path))
    loaded = untrained_model("lite-tiny-bg")
    torch_runtime, onnx = open_runtime(loaded, "torch"), open_runtime(loaded, "onnx")
    face = loaded.model.face_kp
    plain = torch_runtime.extract_motion(crops[1:])
    assert torch.equal(plain.deformation[:, face:], torch.zeros_like(plain.deformation[:, face:]))
    measured = torch_runtime.extract_motion(crops[1:], reference=crops[:1])
    assert measured.deformation[:, face:].abs().max() > 0  # the frames moved from the keyframe
    for got, want in zip(onnx.extract_motion(crops[1:], crops[:1]), measured, strict=True):
        assert torch.equal(got, want)
