"""The committed golden keyframe files decode to the expected values and re-encode exactly."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

from vid2vid.codec.bitstream.chunks import KeyframeAssembler
from vid2vid.codec.bitstream.container import V2VReader, V2VWriter
from vid2vid.codec.bitstream.keyframe import (
    AppearanceKind,
    decode_keyframe_payload,
    encode_keyframe_payload,
)
from vid2vid.codec.bitstream.volume import unpack_volume
from vid2vid.codec.keyframe_image import decode_key_image


def _load_maker() -> ModuleType:
    path = Path(__file__).with_name("make_golden_keyframe.py")
    spec = importlib.util.spec_from_file_location("make_golden_keyframe", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


maker = _load_maker()
CHUNKS = sorted(maker.GOLDEN.glob("keyframe_chunk*.bin"), key=lambda p: int(p.stem[14:]))


def test_chunks_assemble_to_the_expected_keyframe() -> None:
    assert len(CHUNKS) == 5
    kf = decode_keyframe_payload(_assemble([p.read_bytes() for p in reversed(CHUNKS)]))
    assert kf == maker.jpeg_keyframe(kf.appearance)
    image = decode_key_image(kf.appearance, AppearanceKind.JPEG)
    assert np.abs(image.astype(int) - maker.synthetic_image()).mean() < 3


def test_the_encoder_reproduces_the_chunks_byte_exactly() -> None:
    packets = [p.read_bytes() for p in CHUNKS]
    kf = decode_keyframe_payload(_assemble(packets))
    rebuilt = maker.jpeg_chunks(encode_keyframe_payload(maker.jpeg_keyframe(kf.appearance)))
    assert rebuilt == packets


def _assemble(packets: list[bytes]) -> bytes:
    assembler = KeyframeAssembler()
    payload = None
    for packet in packets:
        payload = assembler.add(packet)
    assert payload is not None
    return payload


def test_volume_keyframe_decodes_to_the_quantized_volume() -> None:
    data = (maker.GOLDEN / "keyframe_volume_int8.bin").read_bytes()
    kf = decode_keyframe_payload(data)
    assert kf == maker.volume_keyframe(kf.appearance, kf.volume_scale)
    assert kf.volume_scale == np.float32(4 / 127)  # max abs of the volume is 32 / 8
    volume = unpack_volume(kf.appearance, kf.volume_shape, kf.kind, kf.volume_scale)
    expected = maker.synthetic_volume()
    assert np.abs(volume - expected).max() <= kf.volume_scale / 2
    assert encode_keyframe_payload(kf) == data


def test_v2v_file_holds_the_chunks_and_is_reproduced(tmp_path: Path) -> None:
    packets = [p.read_bytes() for p in CHUNKS]
    with V2VReader(maker.GOLDEN / "keyframe.v2v") as reader:
        assert reader.metadata == maker.metadata()
        assert list(reader.packets()) == packets
        assert reader.complete
    with V2VWriter(tmp_path / "again.v2v", maker.metadata()) as writer:
        for packet in packets:
            writer.write(packet)
    assert (tmp_path / "again.v2v").read_bytes() == (maker.GOLDEN / "keyframe.v2v").read_bytes()
