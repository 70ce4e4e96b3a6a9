"""Which version of the exported graphs a cached file holds (standard library only).

A cached ONNX file or TensorRT engine depends not only on the weights (the fingerprint) but on
the export code: the planar warp, the graph wrappers, the output clamp, the opset. Bump
``GRAPH_FORMAT`` whenever that code changes what a graph computes; caches of another tag are
then rebuilt instead of being reused silently.
"""

from __future__ import annotations

from vid2vid import __version__

#: ONNX opset of every export.
OPSET = 20
#: Bumped by hand when the export code changes a graph's inputs, outputs or arithmetic.
GRAPH_FORMAT = 1
#: The folder name that separates caches of different export code.
EXPORT_TAG = f"vid2vid{__version__}-graphs{GRAPH_FORMAT}-opset{OPSET}"
