"""The exception tree of vid2vid. Every error a user can cause is one of these.

Vid2VidError
├── ConfigError               a configuration value or file is invalid
├── CheckpointError           a weights file cannot be read or does not fit the model
│   └── ModelMismatchError    weights, keyframe or packet come from another model
├── BitstreamError            bytes from a file or the network are malformed
│   └── MissingIntraError     a predicted motion packet whose intra packet was lost
├── InputError                an image, video or camera cannot be read, or holds no face
├── EngineUnavailableError    a compute backend or its optional dependency is missing
└── SignalingError            the signaling server refused or dropped us
    └── SignalingClosedError  it closed our connection; ``close_code`` says why
"""

from __future__ import annotations


class Vid2VidError(Exception):
    """Root of every error vid2vid raises on purpose."""


class ConfigError(Vid2VidError, ValueError):
    """A configuration value or file is invalid; the message names the field and value."""


class CheckpointError(Vid2VidError):
    """A weights file cannot be read, or its tensors do not fit the model."""


class ModelMismatchError(CheckpointError):
    """Weights, a keyframe or a packet were made by a different model."""


class BitstreamError(Vid2VidError, ValueError):
    """Bytes from a file or the network are malformed; the message says exactly how."""


class MissingIntraError(BitstreamError):
    """A predicted motion packet refers to an intra packet this decoder does not have.

    Not damage but loss: the receiver reacts by asking the sender for an intra packet, so it is
    a type of its own rather than a phrase to match in the message.
    """


class InputError(Vid2VidError):
    """An input image, video or camera cannot be used (unreadable, empty, no face)."""


class EngineUnavailableError(Vid2VidError):
    """A compute backend is not available here; the message says which extra to install."""


class SignalingError(Vid2VidError):
    """The signaling server refused us or the connection dropped."""


class SignalingClosedError(SignalingError):
    """The server closed (or refused) our connection; ``close_code`` says why (None: dropped).

    Callers give up on refusals (bad token, room full) and reconnect after anything else.
    """

    def __init__(self, message: str, close_code: int | None = None) -> None:
        super().__init__(message)
        self.close_code = close_code
