"""Fuzz every decoder a network reaches: random and mutated bytes must raise only the typed
errors (``BitstreamError``, or ``ModelMismatchError`` for a keyframe of another model).

Targets: the packet header, the motion decoder (holding a valid intra, so predicted packets get
past the reference check), the keyframe payload, the keyframe chunk assembler and the ``.v2v``
reader. Inputs are half random bytes, half mutations of valid packets (bit flips, byte
overwrites, cuts, extensions, splices of two packets), seeded so a crash reproduces.

    python -m vid2vid.bench.fuzz_bitstream --iterations 100000

Prints a table per target, writes JSON (out/fuzz_bitstream.json) and exits 1 on any crash.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vid2vid.codec.bitstream.chunks import KeyframeAssembler, split_keyframe
from vid2vid.codec.bitstream.container import V2VMetadata, V2VReader, V2VWriter
from vid2vid.codec.bitstream.header import PacketHeader
from vid2vid.codec.bitstream.keyframe import (
    AppearanceKind,
    Keyframe,
    decode_keyframe_payload,
    encode_keyframe_payload,
)
from vid2vid.codec.bitstream.motion import MotionDecoder, MotionEncoder
from vid2vid.codec.bitstream.motion_params import MotionLayout, MotionParams
from vid2vid.errors import BitstreamError, ModelMismatchError

EXPECTED = (BitstreamError, ModelMismatchError)
LAYOUT = MotionLayout(num_kp=15, has_scale=False)
#: A minimal JPEG-looking appearance: the keyframe checks the signature, not the image.
FAKE_JPEG = b"\xff\xd8\xff\xe0" + bytes(range(60))


def random_motion(rng: np.random.Generator, layout: MotionLayout) -> MotionParams:
    """Plausible motion: angles within ±40°, small translation and deformations."""
    angles = rng.normal(0, 15, 3)
    return MotionParams(
        *angles,
        translation=rng.normal(0, 0.05, 3),
        deformation=rng.normal(0, 0.02, (layout.num_kp, 3)),
        scale=float(rng.uniform(0.8, 1.2)) if layout.has_scale else None,
    )


def motion_corpus(rng: np.random.Generator, frames: int = 90) -> list[bytes]:
    """A valid stream of intra and predicted packets (intra every 30)."""
    encoder = MotionEncoder(LAYOUT)
    base = random_motion(rng, LAYOUT)
    packets = []
    for i in range(frames):
        step = random_motion(rng, LAYOUT)
        params = MotionParams(
            base.yaw + 0.1 * step.yaw,
            base.pitch + 0.1 * step.pitch,
            base.roll + 0.1 * step.roll,
            base.translation + 0.1 * step.translation,
            base.deformation + 0.1 * step.deformation,
        )
        packets.append(encoder.encode(params, timestamp_ms=33 * i))
    return packets


def keyframe_payloads(rng: np.random.Generator) -> list[bytes]:
    image = Keyframe(bytes(16), 256, AppearanceKind.JPEG, FAKE_JPEG, random_motion(rng, LAYOUT))
    volume = Keyframe(
        bytes(range(16)),
        512,
        AppearanceKind.VOLUME_INT8_ZSTD,
        b"\x28\xb5\x2f\xfd" + bytes(20),
        random_motion(rng, LAYOUT),
        volume_shape=(2, 2, 4, 4),
        volume_scale=0.5,
        canonical=rng.uniform(-1, 1, (LAYOUT.num_kp, 3)).astype(np.float32),
    )
    return [encode_keyframe_payload(image), encode_keyframe_payload(volume)]


def mutate(rng: np.random.Generator, data: bytes, corpus: list[bytes]) -> bytes:
    """One random edit of ``data``; sometimes two."""
    buf = bytearray(data)
    for _ in range(1 + int(rng.random() < 0.3)):
        op = rng.integers(6)
        if op == 0 and buf:  # flip one bit
            i = rng.integers(len(buf))
            buf[i] ^= 1 << int(rng.integers(8))
        elif op == 1 and buf:  # overwrite a byte, often with an extreme value
            buf[rng.integers(len(buf))] = int(rng.choice([0, 0x7F, 0x80, 0xFF, rng.integers(256)]))
        elif op == 2:  # cut
            buf = buf[: rng.integers(len(buf) + 1)]
        elif op == 3:  # extend
            buf += rng.bytes(int(rng.integers(1, 40)))
        elif op == 4 and buf:  # overwrite a run
            i = rng.integers(len(buf))
            run = rng.bytes(int(rng.integers(1, 8)))
            buf[i : i + len(run)] = run
        else:  # splice the head of this packet onto the tail of another
            other = corpus[rng.integers(len(corpus))]
            cut = rng.integers(min(len(buf), len(other)) + 1)
            buf = buf[:cut] + bytearray(other[cut:])
    return bytes(buf)


@dataclass
class TargetResult:
    """How one decoder fared."""

    inputs: int = 0
    accepted: int = 0
    rejected: int = 0
    crashes: list[str] = field(default_factory=list)


def run_target(
    name: str,
    decode: Callable[[bytes], object],
    corpus: list[bytes],
    iterations: int,
    rng: np.random.Generator,
) -> TargetResult:
    """Feed ``iterations`` inputs; any exception outside :data:`EXPECTED` is a crash."""
    result = TargetResult()
    for _ in tqdm(range(iterations), desc=name, unit="input", leave=False):
        if rng.random() < 0.5:
            data = rng.bytes(int(rng.integers(0, 160)))
        else:
            data = mutate(rng, corpus[rng.integers(len(corpus))], corpus)
        result.inputs += 1
        try:
            decode(data)
            result.accepted += 1
        except EXPECTED:
            result.rejected += 1
        except Exception:  # noqa: BLE001 - exactly what the fuzzer looks for
            if len(result.crashes) < 5:
                result.crashes.append(f"input {data.hex()}\n{traceback.format_exc()}")
            else:
                result.crashes.append("")
    return result


def motion_target(corpus: list[bytes]) -> Callable[[bytes], object]:
    """A decoder that has seen the stream's first intra, as a live receiver would have."""
    decoder = MotionDecoder(LAYOUT)
    decoder.decode(corpus[0])
    return decoder.decode


def assembler_target() -> Callable[[bytes], object]:
    """One assembler for the whole run: its state must survive every bad chunk too."""
    assembler = KeyframeAssembler()
    return assembler.add


def container_target(folder: Path, metadata: V2VMetadata) -> Callable[[bytes], object]:
    """Random bytes after a valid .v2v header, read as records (a file from elsewhere)."""
    head = io.BytesIO()
    path = folder / "head.v2v"
    with V2VWriter(path, metadata):
        pass
    head.write(path.read_bytes()[:-4])  # without the end record
    prefix = head.getvalue()
    target = folder / "fuzz.v2v"

    def read(data: bytes) -> object:
        target.write_bytes(prefix + data)
        with V2VReader(target) as reader:
            return list(reader.packets())

    return read


def build_targets(
    rng: np.random.Generator, folder: Path
) -> dict[str, tuple[Callable[[bytes], object], list[bytes]]]:
    motion = motion_corpus(rng)
    payloads = keyframe_payloads(rng)
    chunks = [c for p in payloads for c in split_keyframe(p, 0, 0, 0, 1, max_packet=64)]
    metadata = V2VMetadata(
        fps=30.0, fingerprint="0" * 32, num_kp=15, has_scale=False, model_config={"name": "x"}
    )
    records = [len(p).to_bytes(4, "big") + p for p in motion[:5]]
    return {
        "header": (PacketHeader.parse, motion),
        "motion": (motion_target(motion), motion),
        "keyframe": (decode_keyframe_payload, payloads),
        "chunks": (assembler_target(), chunks),
        "container": (container_target(folder, metadata), records),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fuzz_bitstream", description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=100_000, help="inputs per target")
    parser.add_argument(
        "--container-iterations",
        type=int,
        default=None,
        help="inputs for the .v2v reader, which goes through a file (default: iterations / 10)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=Path("out/fuzz_bitstream.json"))
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    results: dict[str, TargetResult] = {}
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        targets = build_targets(rng, Path(tmp))
        for name, (decode, corpus) in targets.items():
            count = args.iterations
            if name == "container":
                count = args.container_iterations or max(1, args.iterations // 10)
            start = time.perf_counter()
            results[name] = run_target(name, decode, corpus, count, rng)
            seconds[name] = time.perf_counter() - start
    print(
        f"{'target':<10} {'inputs':>8} {'accepted':>9} {'rejected':>9} {'crashes':>8} {'µs/input':>9}"
    )
    for name, r in results.items():
        per = seconds[name] / max(r.inputs, 1) * 1e6
        print(
            f"{name:<10} {r.inputs:>8} {r.accepted:>9} {r.rejected:>9} {len(r.crashes):>8} {per:>9.1f}"
        )
    total = sum(r.inputs for r in results.values())
    crashes = sum(len(r.crashes) for r in results.values())
    print(f"{total} inputs, {crashes} crashes (seed {args.seed})")
    for name, r in results.items():
        for crash in r.crashes[:1]:
            print(f"--- first crash in {name}:\n{crash}", file=sys.stderr)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "seed": args.seed,
        "total_inputs": total,
        "crashes": crashes,
        "targets": {
            name: {
                "inputs": r.inputs,
                "accepted": r.accepted,
                "rejected": r.rejected,
                "crashes": len(r.crashes),
                "seconds": round(seconds[name], 2),
            }
            for name, r in results.items()
        },
    }
    args.json.write_text(json.dumps(document, indent=2))
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
