"""vid2vid.engines: the compute backends behind one runtime protocol.

PyTorch (CPU/CUDA, the reference), ONNX Runtime and TensorRT; ONNX export, TensorRT engine
builds and an engine cache. Start with :func:`open_runtime`.
"""

from vid2vid.engines.runtime import ENGINES, Runtime, TorchRuntime, open_runtime

__all__ = ["ENGINES", "Runtime", "TorchRuntime", "open_runtime"]
