"""The ``.v2v`` file: a small header with JSON metadata, then the packets as length-prefixed
records, exactly as they would cross the network.

::

    offset  size  field
    0       4     magic b"V2VF"
    4       u8    container version
    5       u32   metadata length M
    9       M     metadata, UTF-8 JSON object (:class:`V2VMetadata`)
    9 + M   ...   records: u32 length N, then N bytes of packet; N = 0 ends the file

Append-only and flushed after every record, so a reader can follow a file that is still being
written: it yields every complete record and stops quietly at a partial one. The end record,
written by :meth:`V2VWriter.close`, tells a following reader that nothing more will come.
Integers are big-endian like the packets.
"""

from __future__ import annotations

import json
import math
import struct
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from vid2vid.codec.bitstream.header import HEADER_SIZE
from vid2vid.errors import BitstreamError

MAGIC = b"V2VF"
VERSION = 1
_FILE_HEADER = struct.Struct(">4sBI")
_RECORD_LENGTH = struct.Struct(">I")
#: Metadata is a few hundred bytes; anything near this is not a .v2v file.
MAX_METADATA = 1 << 20
#: The largest packet a record may hold: keyframe chunks are at most 64 KiB.
MAX_RECORD = 64 * 1024
_FINGERPRINT_HEX = 32


@dataclass(frozen=True)
class V2VMetadata:
    """What a decoder needs before the first packet: the clock and the model to rebuild.

    ``model_config`` is the model's ``ModelConfig.to_dict()`` (kept a plain JSON object here so
    this package needs no torch); the decoder rebuilds it with ``config_from_dict``.
    """

    fps: float
    fingerprint: str
    num_kp: int
    has_scale: bool
    model_config: Mapping[str, Any]

    def __post_init__(self) -> None:
        fps = self.fps
        if isinstance(fps, bool) or not isinstance(fps, int | float) or not math.isfinite(fps):
            raise BitstreamError(f"metadata fps must be a positive number, got {fps!r}")
        if fps <= 0:
            raise BitstreamError(f"metadata fps must be a positive number, got {fps!r}")
        hex_digits = set("0123456789abcdef")
        if not (
            isinstance(self.fingerprint, str)
            and len(self.fingerprint) == _FINGERPRINT_HEX
            and set(self.fingerprint) <= hex_digits
        ):
            raise BitstreamError(
                f"metadata fingerprint must be {_FINGERPRINT_HEX} lowercase hex digits, "
                f"got {self.fingerprint!r}"
            )
        if isinstance(self.num_kp, bool) or not isinstance(self.num_kp, int) or self.num_kp < 1:
            raise BitstreamError(f"metadata num_kp must be a positive integer, got {self.num_kp!r}")
        if not isinstance(self.has_scale, bool):
            raise BitstreamError(
                f"metadata has_scale must be true or false, got {self.has_scale!r}"
            )
        if not isinstance(self.model_config, Mapping):
            raise BitstreamError(
                f"metadata model_config must be a JSON object, got {self.model_config!r}"
            )

    @property
    def model_name(self) -> str | None:
        """The config's preset name (``"paper-256"``, ``"tiny"``, …) when it has one."""
        name = self.model_config.get("name")
        return name if isinstance(name, str) else None

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> V2VMetadata:
        """Parse strictly: unknown or missing keys are errors, not ignored."""
        try:
            document = json.loads(data.decode())
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            raise BitstreamError(f"not UTF-8 JSON ({error})") from None
        if not isinstance(document, dict):
            raise BitstreamError(f"must be a JSON object, got {type(document).__name__}")
        known = {f.name for f in fields(cls)}
        unknown, missing = sorted(set(document) - known), sorted(known - set(document))
        if unknown:
            raise BitstreamError(f"unknown keys {', '.join(unknown)}")
        if missing:
            raise BitstreamError(f"missing keys {', '.join(missing)}")
        return cls(**document)


def _record_check(length: int, offset: int) -> None:
    if length > MAX_RECORD:
        raise BitstreamError(
            f"record at byte offset {offset} has length {length}, more than {MAX_RECORD}"
        )
    if 0 < length < HEADER_SIZE:
        raise BitstreamError(
            f"record at byte offset {offset} has length {length}, "
            f"shorter than a {HEADER_SIZE}-byte packet header"
        )


class V2VWriter:
    """Writes a ``.v2v`` file; every record is flushed at once so readers can follow it."""

    def __init__(self, path: str | Path, metadata: V2VMetadata) -> None:
        text = metadata.to_json()
        self._file: BinaryIO = open(path, "wb")  # noqa: SIM115  # closed by close()
        self._write(_FILE_HEADER.pack(MAGIC, VERSION, len(text)) + text)

    def write(self, packet: bytes) -> None:
        """Append one packet as a record."""
        if not HEADER_SIZE <= len(packet) <= MAX_RECORD:
            raise BitstreamError(
                f"a packet of {len(packet)} bytes cannot be a record ({HEADER_SIZE}..{MAX_RECORD})"
            )
        self._write(_RECORD_LENGTH.pack(len(packet)) + bytes(packet))

    def close(self) -> None:
        """Write the end record and close; a second call does nothing."""
        if not self._file.closed:
            self._write(_RECORD_LENGTH.pack(0))
            self._file.close()

    def _write(self, data: bytes) -> None:
        self._file.write(data)
        self._file.flush()

    def __enter__(self) -> V2VWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class V2VReader:
    """Reads a ``.v2v`` file, possibly while it is being written.

    Without ``follow``, :meth:`packets` stops at the end of what is there now; with it, the
    reader polls every ``poll_s`` seconds until the end record arrives, or until the file has
    not grown for ``idle_timeout_s`` seconds (None: wait for the end record however long).
    After iterating, ``complete`` says whether the end record was seen and ``truncated_tail``
    whether the file ended in a partial record (normal while the writer is mid-record).
    """

    def __init__(
        self,
        path: str | Path,
        follow: bool = False,
        poll_s: float = 0.05,
        idle_timeout_s: float | None = None,
    ) -> None:
        self._follow, self._poll_s, self._idle_timeout_s = follow, poll_s, idle_timeout_s
        self._file: BinaryIO = open(path, "rb")  # noqa: SIM115  # closed by close()
        self.truncated_tail = False
        self.complete = False
        self._records_start = 0
        self.metadata = self._read_header()

    def _read_at(self, offset: int, size: int) -> bytes:
        """``size`` bytes at ``offset``, waiting for them in follow mode; fewer at the end."""
        last_growth = time.monotonic()
        seen = -1
        while True:
            self._file.seek(offset)
            data = self._file.read(size)
            if len(data) == size or not self._follow:
                return data
            if len(data) != seen:
                seen, last_growth = len(data), time.monotonic()
            elif (
                self._idle_timeout_s is not None
                and time.monotonic() - last_growth >= self._idle_timeout_s
            ):
                return data
            time.sleep(self._poll_s)

    def _read_header(self) -> V2VMetadata:
        head = self._read_at(0, _FILE_HEADER.size)
        if len(head) < _FILE_HEADER.size:
            raise BitstreamError(
                f".v2v header is truncated: {len(head)} of {_FILE_HEADER.size} bytes"
            )
        magic, version, length = _FILE_HEADER.unpack(head)
        if magic != MAGIC:
            raise BitstreamError(f"not a .v2v file: magic {magic!r} at byte offset 0")
        if version != VERSION:
            raise BitstreamError(
                f"unsupported .v2v version {version} at byte offset 4, this reader reads {VERSION}"
            )
        if length > MAX_METADATA:
            raise BitstreamError(
                f".v2v metadata length {length} at byte offset 5 is more than {MAX_METADATA}"
            )
        text = self._read_at(_FILE_HEADER.size, length)
        if len(text) < length:
            needed = _FILE_HEADER.size + length
            raise BitstreamError(
                f".v2v header is truncated: {_FILE_HEADER.size + len(text)} of {needed} bytes"
            )
        self._records_start = _FILE_HEADER.size + length
        try:
            return V2VMetadata.from_json(text)
        except BitstreamError as error:
            raise BitstreamError(
                f".v2v metadata at byte offset {_FILE_HEADER.size}: {error}"
            ) from None

    def packets(self) -> Iterator[bytes]:
        """Every complete record's packet, in file order (see the class docstring for the end)."""
        offset = self._records_start
        while True:
            prefix = self._read_at(offset, _RECORD_LENGTH.size)
            if len(prefix) < _RECORD_LENGTH.size:
                self.truncated_tail = len(prefix) > 0
                return
            (length,) = _RECORD_LENGTH.unpack(prefix)
            _record_check(length, offset)
            if length == 0:
                self._check_nothing_after(offset)
                self.complete = True
                return
            packet = self._read_at(offset + _RECORD_LENGTH.size, length)
            if len(packet) < length:
                self.truncated_tail = True
                return
            self.truncated_tail = False
            yield packet
            offset += _RECORD_LENGTH.size + length

    def _check_nothing_after(self, offset: int) -> None:
        self._file.seek(0, 2)
        extra = self._file.tell() - offset - _RECORD_LENGTH.size
        if extra:
            raise BitstreamError(
                f".v2v file has {extra} bytes after its end record at byte offset {offset}"
            )

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> V2VReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
