"""vid2vid: a neural video-conferencing codec (face-vid2vid, Wang, Mallya, Liu, CVPR 2021).

The sender transmits one keyframe, then per frame only the head pose and the expression
deformations of learned 3D keypoints; the receiver re-synthesizes the face.
"""

__version__ = "0.1.0"
