"""vid2vid.codec: the networks, keypoint math, checkpoints, face tracking and bitstream."""
