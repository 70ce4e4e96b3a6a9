"""The flow oracle: its warps recover known motion, and on a real clip it bounds the model."""

from __future__ import annotations

import json

import numpy as np

from support.interop import DATA, require
from vid2vid.bench.flow_oracle import coarse, face_mask, main, point_flow, psnr, true_flow, warp


def texture(side: int = 128, seed: int = 0) -> np.ndarray:
    """A smooth random RGB texture in [0, 1]: optical flow has something to hold on to."""
    import cv2

    rng = np.random.default_rng(seed)
    noise = rng.random((side // 8, side // 8, 3)).astype(np.float32)
    return cv2.resize(noise, (side, side), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def test_the_true_flow_warps_the_keyframe_onto_a_shifted_frame() -> None:
    key = texture()
    shift = np.zeros((128, 128, 2), np.float32)
    shift[..., 0], shift[..., 1] = 3.0, -2.0
    truth = warp(key, shift)  # every pixel comes from 3 px right and 2 px up in the keyframe
    inner = (slice(16, -16), slice(16, -16))
    recovered = warp(key, true_flow(key, truth))
    assert psnr(recovered[inner], truth[inner]) > psnr(key[inner], truth[inner]) + 10
    flow = point_flow(true_flow(key, truth), [(40, 40), (90, 60)], sigma=30.0)
    assert np.abs(flow[inner] - shift[inner]).max() < 0.5  # a uniform motion, from two points
    assert np.abs(coarse(shift, 16) - shift).max() < 1e-4  # a uniform flow survives coarsening


def test_the_face_mask_covers_the_landmarks_and_their_margin() -> None:
    square = np.array([[100, 100], [150, 100], [150, 150], [100, 150]], np.float64)
    mask = face_mask(square, 256, margin=10)
    assert mask[125, 125] and mask[92, 125] and not mask[85, 125] and not mask[10, 10]


def test_on_a_real_clip_the_oracle_bounds_the_model_and_the_frozen_keyframe(
    tmp_path, capsys
) -> None:
    clip = require(DATA / "clips" / "lp_d10.mp4")
    assert main([str(clip), "--frames", "24", "--stride", "6", "-o", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "flow_oracle.json").read_text())
    scores = report["rows"][0]["scores"]
    assert scores["oracle"] > scores["model"] > scores["frozen"]
    assert (
        scores["oracle_face"] >= scores["model"] - 0.5
        and scores["oracle_outside"] >= scores["model"] - 0.5
    )
    assert "mean" in capsys.readouterr().out


def test_a_paper_family_model_is_refused_with_a_clear_error(tmp_path, capsys) -> None:
    clip = require(DATA / "clips" / "lp_d10.mp4")
    assert main([str(clip), "--config", "tiny", "-o", str(tmp_path)]) == 1
    assert "needs a lite model" in capsys.readouterr().err
