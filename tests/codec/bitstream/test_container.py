"""The .v2v container: round trip, reading while written, exact errors with byte offsets."""

from __future__ import annotations

import contextlib
import json
import struct
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vid2vid.codec.bitstream.container import V2VMetadata, V2VReader, V2VWriter
from vid2vid.codec.bitstream.header import PacketHeader, PacketType
from vid2vid.errors import BitstreamError

METADATA = V2VMetadata(
    fps=30.0,
    fingerprint="0123456789abcdef" * 2,
    num_kp=15,
    has_scale=False,
    model_config={"name": "tiny", "num_kp": 15},
)


def packet(sequence: int, size: int = 12) -> bytes:
    header = PacketHeader(PacketType.MOTION_INTRA, 1, sequence, 33 * sequence)
    return bytes(header) + bytes([sequence % 256]) * (size - 8)


PACKETS = [packet(i, size=8 + 3 * i) for i in range(5)]


def write(path: Path, packets: list[bytes] = PACKETS) -> bytes:
    with V2VWriter(path, METADATA) as writer:
        for p in packets:
            writer.write(p)
    return path.read_bytes()


def read_all(path: Path, **kwargs: object) -> tuple[list[bytes], V2VReader]:
    with V2VReader(path, **kwargs) as reader:  # type: ignore[arg-type]
        return list(reader.packets()), reader


def test_round_trip(tmp_path: Path) -> None:
    data = write(tmp_path / "a.v2v")
    assert data[:5] == b"V2VF\x01"
    (length,) = struct.unpack_from(">I", data, 5)
    assert json.loads(data[9 : 9 + length]) == {
        "fingerprint": "0123456789abcdef" * 2,
        "fps": 30.0,
        "has_scale": False,
        "model_config": {"name": "tiny", "num_kp": 15},
        "num_kp": 15,
    }
    assert data.endswith(b"\x00\x00\x00\x00")
    packets, reader = read_all(tmp_path / "a.v2v")
    assert packets == PACKETS
    assert reader.metadata == METADATA and reader.metadata.model_name == "tiny"
    assert reader.complete and not reader.truncated_tail


def test_every_cut_yields_the_complete_records_before_it(tmp_path: Path) -> None:
    data = write(tmp_path / "full.v2v")
    header_end = 9 + struct.unpack_from(">I", data, 5)[0]
    record_ends = [header_end]
    for p in PACKETS:
        record_ends.append(record_ends[-1] + 4 + len(p))
    cut_file = tmp_path / "cut.v2v"
    for cut in range(header_end, len(data)):
        cut_file.write_bytes(data[:cut])
        packets, reader = read_all(cut_file)
        whole = sum(end <= cut for end in record_ends[1:])
        assert packets == PACKETS[:whole], cut
        assert reader.truncated_tail == (cut not in record_ends), cut
        assert not reader.complete


def test_a_cut_header_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "a.v2v"
    data = write(path)
    path.write_bytes(data[:7])
    with pytest.raises(BitstreamError, match=r"^\.v2v header is truncated: 7 of 9 bytes$"):
        V2VReader(path)
    path.write_bytes(data[:20])
    with pytest.raises(BitstreamError, match=r"^\.v2v header is truncated: 20 of \d+ bytes$"):
        V2VReader(path)


def test_reader_sees_records_as_the_writer_appends(tmp_path: Path) -> None:
    path = tmp_path / "live.v2v"
    with V2VWriter(path, METADATA) as writer:
        with V2VReader(path) as reader:
            assert list(reader.packets()) == []
            writer.write(PACKETS[0])
            writer.write(PACKETS[1])
            assert list(reader.packets()) == PACKETS[:2]
            assert not reader.complete
        with path.open("ab") as tail:  # half a record, as if the writer were mid-write
            tail.write(b"\x00\x00")
            tail.flush()
            packets, reader = read_all(path)
            assert packets == PACKETS[:2] and reader.truncated_tail


def test_follow_waits_for_the_end_record(tmp_path: Path) -> None:
    path = tmp_path / "live.v2v"
    writer = V2VWriter(path, METADATA)

    def append() -> None:
        for p in PACKETS:
            time.sleep(0.01)
            writer.write(p)
        writer.close()

    thread = threading.Thread(target=append)
    thread.start()
    packets, reader = read_all(path, follow=True, poll_s=0.002, idle_timeout_s=5.0)
    thread.join()
    assert packets == PACKETS and reader.complete


def test_follow_gives_up_after_the_idle_timeout(tmp_path: Path) -> None:
    path = tmp_path / "stalled.v2v"
    with V2VWriter(path, METADATA) as writer:
        writer.write(PACKETS[0])
        start = time.monotonic()
        packets, reader = read_all(path, follow=True, poll_s=0.01, idle_timeout_s=0.1)
    assert packets == PACKETS[:1] and not reader.complete and not reader.truncated_tail
    assert 0.1 <= time.monotonic() - start < 2.0


def _metadata_bytes(document: object) -> bytes:
    text = json.dumps(document).encode()
    return b"V2VF\x01" + struct.pack(">I", len(text)) + text


GOOD = _metadata_bytes(json.loads(METADATA.to_json()))
RECORDS_AT = len(GOOD)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"RIFF\x01\x00\x00\x00\x00", "not a .v2v file: magic b'RIFF' at byte offset 0"),
        (
            b"V2VF\x02\x00\x00\x00\x00",
            "unsupported .v2v version 2 at byte offset 4, this reader reads 1",
        ),
        (
            b"V2VF\x01\xff\xff\xff\xff",
            ".v2v metadata length 4294967295 at byte offset 5 is more than 1048576",
        ),
        (
            b"V2VF\x01\x00\x00\x00\x02\xff\xfe",
            ".v2v metadata at byte offset 9: not UTF-8 JSON ('utf-8' codec can't decode byte 0xff "
            "in position 0: invalid start byte)",
        ),
        (
            b"V2VF\x01\x00\x00\x00\x01{",
            ".v2v metadata at byte offset 9: not UTF-8 JSON (Expecting property name enclosed in "
            "double quotes: line 1 column 2 (char 1))",
        ),
        (_metadata_bytes([1]), ".v2v metadata at byte offset 9: must be a JSON object, got list"),
        (
            _metadata_bytes({**json.loads(METADATA.to_json()), "colour": 1}),
            ".v2v metadata at byte offset 9: unknown keys colour",
        ),
        (
            _metadata_bytes({"fps": 30}),
            ".v2v metadata at byte offset 9: missing keys "
            "fingerprint, has_scale, model_config, num_kp",
        ),
        (
            _metadata_bytes({**json.loads(METADATA.to_json()), "fps": 0}),
            ".v2v metadata at byte offset 9: metadata fps must be a positive number, got 0",
        ),
        (
            _metadata_bytes({**json.loads(METADATA.to_json()), "fingerprint": "AB"}),
            ".v2v metadata at byte offset 9: metadata fingerprint must be 32 lowercase hex "
            "digits, got 'AB'",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_header_errors(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "bad.v2v"
    path.write_bytes(data)
    with pytest.raises(BitstreamError) as caught:
        V2VReader(path)
    assert str(caught.value) == message


def test_deeply_nested_metadata_is_a_bitstream_error(tmp_path: Path) -> None:
    path = tmp_path / "nested.v2v"
    path.write_bytes(b"V2VF\x01\x00\x01\x00\x00" + b"[" * 65536)
    with pytest.raises(
        BitstreamError, match=r"^\.v2v metadata at byte offset 9: not UTF-8 JSON \("
    ):
        V2VReader(path)


@pytest.mark.parametrize(
    ("records", "message"),
    [
        (
            struct.pack(">I", 65537),
            f"record at byte offset {RECORDS_AT} has length 65537, more than 65536",
        ),
        (
            struct.pack(">I", 14) + PACKETS[2] + struct.pack(">I", 3) + b"abc",
            f"record at byte offset {RECORDS_AT + 18} has length 3, "
            "shorter than a 8-byte packet header",
        ),
        (
            struct.pack(">I", 0) + b"junk",
            f".v2v file has 4 bytes after its end record at byte offset {RECORDS_AT}",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_record_errors(tmp_path: Path, records: bytes, message: str) -> None:
    path = tmp_path / "bad.v2v"
    path.write_bytes(GOOD + records)
    with V2VReader(path) as reader, pytest.raises(BitstreamError) as caught:
        list(reader.packets())
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"fps": float("nan")}, "metadata fps must be a positive number, got nan"),
        ({"fps": True}, "metadata fps must be a positive number, got True"),
        ({"num_kp": 0}, "metadata num_kp must be a positive integer, got 0"),
        ({"has_scale": 1}, "metadata has_scale must be true or false, got 1"),
        ({"model_config": "tiny"}, "metadata model_config must be a JSON object, got 'tiny'"),
    ],
)
def test_metadata_checks(changes: dict, message: str) -> None:
    fields = json.loads(METADATA.to_json())
    with pytest.raises(BitstreamError) as caught:
        V2VMetadata(**{**fields, **changes})
    assert str(caught.value) == message


def test_writer_refuses_what_cannot_be_a_record(tmp_path: Path) -> None:
    with V2VWriter(tmp_path / "a.v2v", METADATA) as writer, pytest.raises(BitstreamError) as caught:
        writer.write(b"short")
    assert str(caught.value) == "a packet of 5 bytes cannot be a record (8..65536)"


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_damaged_files_raise_only_bitstream_error(tmp_path: Path, data: st.DataObject) -> None:
    damaged = bytearray(write(tmp_path / "good.v2v"))
    for _ in range(data.draw(st.integers(1, 4))):
        damaged[data.draw(st.integers(0, len(damaged) - 1))] = data.draw(st.integers(0, 255))
    path = tmp_path / "damaged.v2v"
    path.write_bytes(damaged[: data.draw(st.integers(0, len(damaged)))])
    with contextlib.suppress(BitstreamError):  # anything else fails the test
        read_all(path)
