# vid2vid receiver on an NVIDIA GPU: TensorRT engines run with pycuda buffers.
# NVIDIA's TensorRT image brings CUDA, cuDNN, TensorRT 10.7 and its Python bindings. (The
# operator check in engines/ follows TensorRT 10.15's documented list, newer than 10.7: an
# operator added after 10.7 would pass that check and fail here at the engine build.)
# pycuda is built here against that CUDA. torch is the CPU wheel only: it loads the
# checkpoint, does the keypoint math and exports ONNX the first time; no CUDA torch and no
# torchvision. Engines are built on first start into $VID2VID_CACHE (mount a volume there).
# Not built on the project's machines (no Docker engine there); linted with hadolint.
FROM nvcr.io/nvidia/tensorrt:24.12-py3

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_BREAK_SYSTEM_PACKAGES=1 \
    VID2VID_CACHE=/cache

# pycuda links libcuda at build time, when no driver is mounted: link against CUDA's stub.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && LIBRARY_PATH=/usr/local/cuda/lib64/stubs pip install pycuda==2024.1.2

COPY . /src
RUN pip install "/src[webrtc,onnx]" \
    && useradd --create-home --uid 1000 vid2vid \
    && mkdir -p /cache /out \
    && chown vid2vid /cache /out

USER 1000
WORKDIR /home/vid2vid
CMD ["vid2vid-recv", "--help"]
