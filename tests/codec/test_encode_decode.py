"""vid2vid-encode and vid2vid-decode end to end on a real clip with the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from support.interop import DATA, require
from vid2vid.codec.bitstream.chunks import KeyframeAssembler
from vid2vid.codec.bitstream.container import V2VReader, V2VWriter
from vid2vid.codec.bitstream.header import PacketHeader, PacketType
from vid2vid.codec.bitstream.keyframe import decode_keyframe_payload
from vid2vid.codec.checkpoint import save_checkpoint, untrained_model
from vid2vid.codec.clip import FaceClip
from vid2vid.codec.commands import decode as decode_cli
from vid2vid.codec.commands import encode as encode_cli
from vid2vid.codec.imageio import tensor_to_frames
from vid2vid.codec.keypoints import Motion
from vid2vid.codec.model import KeyframeFeatures
from vid2vid.codec.stream import (
    FrameMotion,
    StreamConfig,
    StreamDecoder,
    StreamEncoder,
    keyframe_features,
)
from vid2vid.codec.wire import params_to_motion
from vid2vid.engines.runtime import TorchRuntime

FRAMES = 20


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def clip() -> Path:
    return require(DATA / "clips" / "lp_d0.mp4")


def _encode(clip: Path, out: Path, *extra: str) -> int:
    args = [str(clip), "-o", str(out), "--config", "tiny", "--frames", str(FRAMES), *extra]
    return encode_cli.main(args)


@pytest.fixture(scope="module")
def stream(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("v2v") / "clip.v2v"
    assert _encode(clip, out) == 0
    return out


def _packets(path: Path) -> list[bytes]:
    with V2VReader(path) as reader:
        return list(reader.packets())


def test_stream_is_one_keyframe_then_a_packet_per_frame(stream: Path) -> None:
    types = [PacketHeader.parse(p).packet_type for p in _packets(stream)]
    assert types[0] is PacketType.KEYFRAME_CHUNK
    motion = [t for t in types if t is not PacketType.KEYFRAME_CHUNK]
    assert len(motion) == FRAMES and motion[0] is PacketType.MOTION_INTRA
    # The clip is 25 fps and the default intra period one second.
    assert [i for i, t in enumerate(motion) if t is PacketType.MOTION_INTRA] == [0]


def test_encode_prints_the_breakdown(clip: Path, tmp_path: Path, capsys) -> None:
    report = tmp_path / "rate.json"
    assert _encode(clip, tmp_path / "c.v2v", "--json", str(report)) == 0
    out = capsys.readouterr()
    assert "keyframe" in out.out and "motion per frame" in out.out and "all-in" in out.out
    assert "UNTRAINED" in out.err
    numbers = json.loads(report.read_text())
    assert numbers["frames"] == FRAMES and numbers["intra_packets"] == 1
    assert numbers["motion_kbps"] < 10


def test_decode_writes_every_frame(stream: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.mp4"
    assert decode_cli.main([str(stream), "-o", str(out)]) == 0
    frames = _frames(out)
    assert len(frames) == FRAMES and frames[0].shape == (64, 64, 3)
    assert f"{FRAMES} frames from 1 keyframe(s); dropped: none" in capsys.readouterr().out


def test_free_view_turns_the_result(stream: Path, tmp_path: Path) -> None:
    plain, turned = tmp_path / "plain.mp4", tmp_path / "turned.mp4"
    assert decode_cli.main([str(stream), "-o", str(plain), "--frames", "3"]) == 0
    assert decode_cli.main([str(stream), "-o", str(turned), "--frames", "3", "--yaw", "30"]) == 0
    difference = np.abs(_frames(plain)[0].astype(int) - _frames(turned)[0].astype(int)).mean()
    assert difference > 1


def _decoded_images(path: Path) -> list[np.ndarray]:
    loaded = untrained_model("tiny")
    decoder = StreamDecoder(loaded, TorchRuntime(loaded))
    frames: list[np.ndarray] = []
    for packet in _packets(path):
        frames += decoder.push(packet)
    return frames


def _exact_frames(path: Path, motions: list[FrameMotion]) -> list[np.ndarray]:
    """The model driven by each frame's float motion, from the stream's own keyframe."""
    loaded = untrained_model("tiny")
    assembler = KeyframeAssembler()
    payload = assembler.add(_packets(path)[0])
    assert payload is not None
    features = keyframe_features(TorchRuntime(loaded), decode_keyframe_payload(payload))
    with torch.inference_mode():
        driving = params_to_motion([m.params for m in motions])
        return tensor_to_frames(loaded.model.animate(_repeat(features, len(motions)), driving))


def _repeat(features: KeyframeFeatures, n: int) -> KeyframeFeatures:
    return KeyframeFeatures(
        features.volume.expand(n, -1, -1, -1, -1),
        features.canonical.expand(n, -1, -1),
        Motion(*(field.expand(n, *field.shape[1:]) for field in features.motion)),
    )


def test_finer_quality_decodes_closer_to_the_unquantized_motion(clip: Path, tmp_path: Path):
    face_clip = FaceClip(clip, 64, FRAMES)
    loaded = untrained_model("tiny")
    encoder = StreamEncoder(TorchRuntime(loaded), loaded.fingerprint, StreamConfig(), face_clip.fps)
    _, motions = encode_cli.measure_clip(encoder, face_clip, batch=8)
    errors = {}
    for quality in (10, 90):
        path = tmp_path / f"q{quality}.v2v"
        assert _encode(clip, path, "--quality", str(quality)) == 0
        pairs = zip(_decoded_images(path), _exact_frames(path, motions), strict=True)
        errors[quality] = np.mean([np.abs(a.astype(float) - b).mean() for a, b in pairs])
    assert errors[90] < errors[10], errors
    assert errors[90] < 1.0, errors


def test_kbps_picks_a_quality_that_meets_the_target(clip: Path, tmp_path: Path) -> None:
    report = tmp_path / "rate.json"
    assert _encode(clip, tmp_path / "r.v2v", "--kbps", "4", "--json", str(report)) == 0
    assert json.loads(report.read_text())["total_kbps"] <= 4.0


def test_volume_keyframe_decodes_without_running_f(clip: Path, tmp_path: Path) -> None:
    path = tmp_path / "volume.v2v"
    assert _encode(clip, path, "--keyframe", "volume-fp16") == 0
    image = _decoded_images(path)
    reference = _decoded_images_from_image_keyframe(clip, tmp_path)
    assert len(image) == FRAMES
    # fp16 volume against F run on the JPEG key image: the same face, small differences.
    assert np.abs(image[0].astype(float) - reference[0].astype(float)).mean() < 20


def _decoded_images_from_image_keyframe(clip: Path, tmp_path: Path) -> list[np.ndarray]:
    path = tmp_path / "png.v2v"
    assert _encode(clip, path, "--keyframe", "png") == 0
    return _decoded_images(path)


def test_corrupt_and_cut_packets_are_dropped_not_fatal(stream: Path, tmp_path: Path, capsys):
    packets = _packets(stream)
    with V2VReader(stream) as reader:
        metadata = reader.metadata
    damaged = tmp_path / "damaged.v2v"
    with V2VWriter(damaged, metadata) as writer:
        for index, packet in enumerate(packets):
            if index == 5:
                packet = packet[:-3]  # cut a predicted packet
            elif index == 7:
                packet = packet[:8] + bytes(b ^ 0x5A for b in packet[8:])  # scramble a payload
            writer.write(packet)
    out = tmp_path / "out.mp4"
    assert decode_cli.main([str(damaged), "-o", str(out)]) == 0
    summary = capsys.readouterr().out
    assert "dropped: 2 malformed" in summary
    assert len(_frames(out)) == FRAMES - 2


def test_stream_from_another_model_is_refused(stream: Path, tmp_path: Path, capsys) -> None:
    other = untrained_model("tiny", seed=1)
    weights = tmp_path / "other"
    save_checkpoint(weights, other.config, other.model.state_dict(), trained=False)
    code = decode_cli.main([str(stream), "-o", str(tmp_path / "x.mp4"), "--weights", str(weights)])
    err = capsys.readouterr().err
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("vid2vid-decode: error: the stream was encoded with model ")
    assert other.fingerprint in last


def test_missing_clip_is_one_line(tmp_path: Path, capsys) -> None:
    code = encode_cli.main([str(tmp_path / "absent.mp4"), "-o", str(tmp_path / "a.v2v")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err[-1].startswith("vid2vid-encode: error:")
    assert "absent.mp4" in err[-1]


def test_not_a_v2v_file_is_one_line(tmp_path: Path, capsys) -> None:
    junk = tmp_path / "junk.v2v"
    junk.write_bytes(b"hello, this is not a stream")
    code = decode_cli.main([str(junk), "-o", str(tmp_path / "x.mp4")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err[-1].startswith("vid2vid-decode: error: not a .v2v file")


def test_receiver_survives_random_and_mutated_packets(stream: Path) -> None:
    """Whatever the network hands over, push() returns (possibly no frames) and never raises."""
    rng = np.random.default_rng(3)
    packets = _packets(stream)
    loaded = untrained_model("tiny")
    decoder = StreamDecoder(loaded, TorchRuntime(loaded))
    for packet in packets[:3]:
        decoder.push(packet)
    for _ in range(300):
        source = bytearray(packets[rng.integers(len(packets))])
        if rng.random() < 0.3:
            data = rng.bytes(int(rng.integers(0, 60)))
        else:
            for _ in range(int(rng.integers(1, 4))):
                source[rng.integers(len(source))] = int(rng.integers(256))
            data = bytes(source[: rng.integers(len(source) + 1)])
        frames = decoder.push(data)
        assert all(f.shape == (64, 64, 3) for f in frames)
    assert sum(decoder.report.dropped.values()) > 0


def test_crop_none_codes_a_face_crop_as_it_is_and_crop_out_shows_what_went_in(
    tmp_path: Path,
) -> None:
    """A clip that is already a face crop goes in untouched (only resized), and --crop-out
    writes exactly those frames, so users can score the decoded video with their own tools."""
    from vid2vid.codec.video import VideoReader, VideoWriter

    crops = [c.image for c in FaceClip(require(DATA / "clips" / "lp_d0.mp4"), 96, 8)]
    square = tmp_path / "square.mp4"
    with VideoWriter(square, 25.0, (96, 96), crf=0) as writer:
        for image in crops:
            writer.write(image)
    seen = tmp_path / "seen.mp4"
    argv = [str(square), "-o", str(tmp_path / "s.v2v"), "--config", "tiny", "--crop", "none"]
    assert encode_cli.main([*argv, "--crop-out", str(seen)]) == 0
    with VideoReader(seen) as reader:
        frames = [f.image for f in reader]
    assert len(frames) == len(crops) and frames[0].shape == (64, 64, 3)
    with VideoReader(square) as reader:
        first = next(iter(reader)).image
    expected = cv2.resize(first, (64, 64), interpolation=cv2.INTER_AREA)
    # 4:2:0 chroma costs a few levels; a re-crop or tracking would be tens off.
    assert np.abs(frames[0].astype(int) - expected).mean() < 4.0


def test_crop_none_refuses_a_frame_that_is_not_square(tmp_path: Path, capsys) -> None:
    argv = [str(require(DATA / "clips" / "lp_d18.mp4")), "-o", str(tmp_path / "s.v2v")]
    clip = tmp_path / "wide.mp4"
    from vid2vid.codec.video import VideoWriter

    with VideoWriter(clip, 25.0, (96, 64)) as writer:
        writer.write(np.zeros((64, 96, 3), np.uint8))
    argv[0] = str(clip)
    assert encode_cli.main([*argv, "--config", "tiny", "--crop", "none"]) == 1
    assert "must be square" in capsys.readouterr().err
