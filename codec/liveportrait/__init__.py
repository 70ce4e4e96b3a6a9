"""The LivePortrait family: 21 keypoints with scale, SPADE decoder to 512 px."""
