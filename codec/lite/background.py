"""Background points: keypoints outside the face whose motion the sender measures as optical flow.

The 20 face keypoints describe the head, but a held crop also sees hair, shoulders and, where
the camera or the crop follows the head, a moving background. No landmark describes those
pixels, and the flow oracle (:mod:`vid2vid.bench.flow_oracle`) measured what they are worth on
the held-out people: the true flow outside the face is +3.6 dB, the flow of a 4 x 4 grid's
points outside the face +0.8 dB on average and +2.5 dB on the clip cropped around a moving head.

So a lite model may carry the ring of an n x n grid over the crop (the 4(n - 1) cells on the
border, outside the face in a tracker crop) as extra keypoints. Each sits at a fixed place of
the keyframe; per frame, the sender measures where that place went (DIS optical flow from the
keyframe's image to the frame, at :data:`FLOW_SIDE` px, the median in a window around the
point) and sends the displacement as the point's deformation δ (x, y; z = 0), divided by
:data:`DISPLACEMENT_UNIT` so that the quantizer's deformation step is 8 times as coarse for them
(a background needs less precision than a lip, and moves much further). The point's pose is not
applied: a background does not turn with the head, and the viewer's free view leaves it where it
is.

The keyframe's own motion has δ = 0 at these points (the flow of an image to itself), which is
what the motion extractor returns when it is given no reference image.
"""

from __future__ import annotations

import cv2
import numpy as np

#: The flow runs on both crops shrunk to this side, whatever the crop size: the same numbers at
#: the sender, in training and in the benchmarks (DIS "medium": ~1.5 ms per frame on a CPU core).
FLOW_SIDE = 128
#: Half the side (at FLOW_SIDE px) of the window whose median flow moves a point.
WINDOW = 6
#: A point's δ is its displacement (normalized units) divided by this. It sets the points' step
#: at a motion quality (6.2 px at 256 px at quality 34), and only that: the decoder sees
#: positions. Measured through the bitstream on the two held-out clips with moving backgrounds
#: at quality 34, units 2 / 4 / 8 cost 11.49 / 10.79 / 10.37 kbit/s (all-in) on one and 9.13 /
#: 8.44 / 8.16 on the other, at the same PSNR within 0.02 dB: background motion is large
#: (up to 0.3 of the crop) and smooth, and its bits go to the distance moved, not to precision.
DISPLACEMENT_UNIT = 8.0


def ring_count(grid: int) -> int:
    """How many points the border ring of a ``grid`` x ``grid`` grid has (0 for no grid)."""
    return 0 if grid == 0 else 4 * (grid - 1)


def ring_points(grid: int) -> np.ndarray:
    """E x 2 normalized (x, y) centres of the border cells of a grid x grid grid over the crop,
    clockwise from the top-left corner."""
    if grid == 0:
        return np.zeros((0, 2), np.float32)
    centres = (np.arange(grid, dtype=np.float32) * 2 + 1) / grid - 1  # cell centres in [-1, 1]
    cells = (
        [(i, 0) for i in range(grid - 1)]
        + [(grid - 1, j) for j in range(grid - 1)]
        + [(i, grid - 1) for i in range(grid - 1, 0, -1)]
        + [(0, j) for j in range(grid - 1, 0, -1)]
    )
    return np.array([(centres[i], centres[j]) for i, j in cells], np.float32)


def _small_grey(grey: np.ndarray) -> np.ndarray:
    if grey.shape[0] == FLOW_SIDE and grey.shape[1] == FLOW_SIDE:
        return grey
    return cv2.resize(grey, (FLOW_SIDE, FLOW_SIDE), interpolation=cv2.INTER_AREA)


class PointTracker:
    """Measures where the background points of a reference image went in another image."""

    def __init__(self, grid: int) -> None:
        self.points = ring_points(grid)  # E x 2, normalized
        # The pixel windows at FLOW_SIDE px, fixed once: slices, not per-frame arithmetic.
        centres = (self.points + 1.0) * (FLOW_SIDE / 2.0) - 0.5
        self._windows = [
            (
                slice(max(int(round(y)) - WINDOW, 0), int(round(y)) + WINDOW + 1),
                slice(max(int(round(x)) - WINDOW, 0), int(round(x)) + WINDOW + 1),
            )
            for x, y in centres
        ]
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def __call__(self, reference: np.ndarray, grey: np.ndarray) -> np.ndarray:
        """E x 3 deformations of the points: uint8 greyscale ``reference`` (the keyframe) and
        ``grey`` (the frame), any equal size -> each point's displacement / DISPLACEMENT_UNIT,
        z = 0."""
        if len(self.points) == 0:
            return np.zeros((0, 3), np.float32)
        if reference.shape != grey.shape:
            raise ValueError(
                f"reference is {reference.shape}, frame is {grey.shape}: they must match"
            )
        flow = self._dis.calc(_small_grey(reference), _small_grey(grey), None)  # px at FLOW_SIDE
        moved = np.array(
            [np.median(flow[rows, cols].reshape(-1, 2), axis=0) for rows, cols in self._windows],
            np.float32,
        )
        deformation = np.zeros((len(self.points), 3), np.float32)
        deformation[:, :2] = moved * (2.0 / FLOW_SIDE / DISPLACEMENT_UNIT)
        return deformation
