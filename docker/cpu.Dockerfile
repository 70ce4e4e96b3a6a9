# vid2vid sender and signaling server on a CPU: the sender extracts motion with ONNX Runtime.
# One image, two commands (vid2vid-send, vid2vid-signal); torch is the CPU wheel.
# Not built on the project's machines (no Docker engine there); linted with hadolint.
FROM python:3.11-slim-bookworm

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VID2VID_CACHE=/cache

RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

COPY . /src
RUN pip install "/src[webrtc,onnx]" \
    && useradd --create-home --uid 1000 vid2vid \
    && mkdir -p /cache \
    && chown vid2vid /cache

USER 1000
WORKDIR /home/vid2vid
EXPOSE 8765
CMD ["vid2vid-signal", "--host", "0.0.0.0", "--port", "8765"]
