"""The shipped default model: trained weights inside the package, used when nothing is named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from support.interop import DATA, require
from vid2vid.codec import checkpoint
from vid2vid.codec.checkpoint import DEFAULT_MODEL, default_weights, load_weights
from vid2vid.codec.commands import decode as decode_cli
from vid2vid.codec.commands import encode as encode_cli
from vid2vid.codec.video import VideoReader
from vid2vid.errors import CheckpointError


def test_the_default_is_the_shipped_trained_model() -> None:
    loaded = load_weights(None, DEFAULT_MODEL)
    assert loaded.trained
    assert loaded.config.family == "lite" and loaded.config.output_size == 512
    assert load_weights(None, None).fingerprint == loaded.fingerprint
    assert sum(f.stat().st_size for f in default_weights().iterdir()) < 25 * 2**20
    card = (default_weights() / "MODEL_CARD.md").read_text()
    assert loaded.fingerprint in card and "held-out" in card.lower()


def test_untrained_presets_stay_available_by_name() -> None:
    assert not load_weights(None, "lite-512").trained
    assert not load_weights(None, "tiny").trained


def test_a_lost_default_is_a_clear_error(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(checkpoint, "default_weights", lambda: tmp_path / "gone")
    with pytest.raises(CheckpointError, match="default model is missing"):
        load_weights(None, DEFAULT_MODEL)


def test_commands_default_to_it_and_rebuild_a_face(tmp_path: Path, capsys) -> None:
    """Encode and decode with no model named: the stream's fingerprint leads the decoder to the
    shipped model, no UNTRAINED warning is printed, and the frames resemble the person (random
    weights give about 5 dB)."""
    clip = require(DATA / "clips" / "lp_d0.mp4")
    stream, crops, video = tmp_path / "d0.v2v", tmp_path / "crops.mp4", tmp_path / "d0.mp4"
    assert (
        encode_cli.main([str(clip), "-o", str(stream), "--frames", "8", "--crop-out", str(crops)])
        == 0
    )
    assert decode_cli.main([str(stream), "-o", str(video)]) == 0
    assert "UNTRAINED" not in capsys.readouterr().err
    with VideoReader(crops) as a, VideoReader(video) as b:
        original = np.stack([f.image for f in a]).astype(np.float64)
        rebuilt = np.stack([f.image for f in b]).astype(np.float64)
    assert rebuilt.shape == original.shape == (8, 512, 512, 3)
    psnr = 10 * np.log10(255**2 / np.mean((original - rebuilt) ** 2))
    assert psnr > 20
