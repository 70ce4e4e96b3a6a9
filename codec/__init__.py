"""vid2vid.codec: the networks, keypoint math, checkpoints, face tracking and bitstream.

The library; the offline commands (``vid2vid-encode``, ``-decode``, ``-reenact``, ``-convert``,
``-model-bench``) are thin CLIs over it in :mod:`vid2vid.codec.commands`.
"""
