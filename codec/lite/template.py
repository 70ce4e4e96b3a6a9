"""A generic 3D face for dlib's 68 landmarks, and the keypoints the lite family sends.

The x-y coordinates are the mean of 292 near-frontal faces of the training corpus (landmarks
centred on their mean and divided by the jaw's width, then averaged with their mirror image), so
the face is about 1 unit wide. The depth is a hand-made relief: the jaw bends back towards the
ears, the nose stands out. It only has to be good enough for a weak-perspective pose fit: the
per-keypoint deformation δ absorbs whatever a person's face differs by.

The frame is OpenCV's camera frame, as everywhere in vid2vid: x right, y down, z away from the
camera, so a frontal face has R = I.
"""

from __future__ import annotations

import numpy as np

_XY = (
    (-0.5, -0.229), (-0.489, -0.097), (-0.472, 0.032), (-0.447, 0.159), (-0.402, 0.278),
    (-0.332, 0.384), (-0.238, 0.472), (-0.128, 0.54), (0.0, 0.562), (0.128, 0.54),
    (0.238, 0.472), (0.332, 0.384), (0.402, 0.278), (0.447, 0.159), (0.472, 0.032),
    (0.489, -0.097), (0.5, -0.229),  # jaw 0-16
    (-0.406, -0.346), (-0.35, -0.413), (-0.264, -0.443), (-0.172, -0.439), (-0.086, -0.408),
    (0.086, -0.408), (0.172, -0.439), (0.264, -0.443), (0.35, -0.413), (0.406, -0.346),  # brows
    (0.0, -0.301), (0.0, -0.221), (0.0, -0.141), (0.0, -0.058),  # nose bridge 27-30
    (-0.097, 0.014), (-0.05, 0.027), (0.0, 0.039), (0.05, 0.027), (0.097, 0.014),  # nostrils
    (-0.303, -0.269), (-0.251, -0.303), (-0.189, -0.304), (-0.135, -0.266), (-0.192, -0.255),
    (-0.253, -0.253),  # image-left eye 36-41
    (0.135, -0.266), (0.189, -0.304), (0.251, -0.303), (0.303, -0.269), (0.253, -0.253),
    (0.192, -0.255),  # image-right eye 42-47
    (-0.185, 0.214), (-0.121, 0.161), (-0.051, 0.135), (0.0, 0.147), (0.051, 0.135),
    (0.121, 0.161), (0.185, 0.214), (0.123, 0.28), (0.055, 0.309), (0.0, 0.314),
    (-0.055, 0.309), (-0.123, 0.28),  # outer lips 48-59
    (-0.152, 0.213), (-0.051, 0.186), (0.0, 0.189), (0.051, 0.186), (0.152, 0.213),
    (0.052, 0.237), (0.0, 0.242), (-0.052, 0.237),  # inner lips 60-67
)  # fmt: skip

_JAW_DEPTH = (0.42, 0.38, 0.33, 0.27, 0.2, 0.12, 0.05, 0.0, -0.02)  # points 0..8, mirrored after


def _depth() -> np.ndarray:
    xy = np.asarray(_XY)
    z = 0.9 * xy[:, 0] ** 2  # the face's sides lie further back
    z[:17] = np.concatenate([_JAW_DEPTH, _JAW_DEPTH[-2::-1]])
    z[17:27] += -0.02  # brows over the eyes
    z[27:31] = (-0.08, -0.13, -0.19, -0.25)  # the nose stands out, most at its tip
    z[31:36] = (-0.1, -0.13, -0.15, -0.13, -0.1)
    z[36:48] += 0.03  # eyes sit in their sockets
    z[48:60] += -0.08  # lips
    z[60:68] += -0.06
    return z


#: 68 x 3, float32: the generic face.
TEMPLATE_68 = np.concatenate([np.asarray(_XY), _depth()[:, None]], axis=1).astype(np.float32)

#: Landmarks that move with the skull, not with expression: the pose is fitted on these.
RIGID = (0, 1, 15, 16, 27, 28, 29, 30, 31, 33, 35, 36, 39, 42, 45)

#: The K = 20 landmarks whose motion is sent: jaw, brows, nose tip, eye lids and corners,
#: lip corners and the outer and inner lip midpoints (mouth opening), chosen for what changes a
#: talking face's pixels most.
KEYPOINTS = (2, 5, 8, 11, 14, 19, 24, 30, 36, 37, 41, 44, 46, 45, 48, 54, 51, 57, 62, 66)

#: The landmark each landmark becomes in a mirror image (dlib's 68-point order).
MIRROR = (
    tuple(range(16, -1, -1)) + tuple(range(26, 16, -1)) + (27, 28, 29, 30, 35, 34, 33, 32, 31)
    + (45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40)
    + (54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55) + (64, 63, 62, 61, 60, 67, 66, 65)
)  # fmt: skip
