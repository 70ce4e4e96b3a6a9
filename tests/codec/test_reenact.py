"""vid2vid-reenact end to end on real shared data with the tiny model."""

from __future__ import annotations

import av
import numpy as np
import pytest

from support.interop import DATA, require
from vid2vid.codec.commands.reenact import main


def _frames(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.fixture
def clip():
    return require(DATA / "clips" / "lp_d0.mp4")


@pytest.fixture
def portrait():
    return require(DATA / "portraits" / "lp_s0.jpg")


def test_writes_the_requested_frames_side_by_side(tmp_path, clip, portrait, capsys):
    out = tmp_path / "out.mp4"
    code = main(
        [
            "--source",
            str(portrait),
            "--driving",
            str(clip),
            "-o",
            str(out),
            "--config",
            "tiny",
            "--frames",
            "25",
            "--compare",
            "--yaw",
            "20",
        ]
    )
    assert code == 0
    frames = _frames(out)
    assert len(frames) == 25
    assert frames[0].shape == (64, 3 * 64, 3)
    # The driving panel moves with the clip; the result panel is not one flat colour.
    assert np.abs(frames[0][:, 64:128].astype(int) - frames[-1][:, 64:128]).mean() > 0.5
    assert frames[0][:, 128:].std() > 1.0
    err = capsys.readouterr().err
    assert "UNTRAINED" in err


def test_free_view_changes_the_result(tmp_path, clip, portrait):
    outputs = []
    for yaw in ("0", "30"):
        out = tmp_path / f"yaw{yaw}.mp4"
        assert (
            main(
                [
                    "--source",
                    str(portrait),
                    "--driving",
                    str(clip),
                    "-o",
                    str(out),
                    "--config",
                    "tiny",
                    "--frames",
                    "2",
                    "--yaw",
                    yaw,
                ]
            )
            == 0
        )
        outputs.append(_frames(out)[0].astype(int))
    assert np.abs(outputs[0] - outputs[1]).mean() > 0.1


def test_missing_source_is_one_line_and_nonzero(tmp_path, clip, capsys):
    code = main(
        [
            "--source",
            str(tmp_path / "nope.jpg"),
            "--driving",
            str(clip),
            "-o",
            str(tmp_path / "o.mp4"),
            "--config",
            "tiny",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("vid2vid-reenact: error:") and "nope.jpg" in err[-1]


def test_portrait_without_a_face_is_refused(tmp_path, clip, capsys):
    import cv2

    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((256, 256, 3), 127, np.uint8))
    code = main(
        [
            "--source",
            str(blank),
            "--driving",
            str(clip),
            "-o",
            str(tmp_path / "o.mp4"),
            "--config",
            "tiny",
        ]
    )
    assert code == 1
    assert "no face found" in capsys.readouterr().err


def test_wrong_weights_are_refused(tmp_path, clip, portrait, capsys):
    (tmp_path / "w").mkdir()
    code = main(
        [
            "--source",
            str(portrait),
            "--driving",
            str(clip),
            "-o",
            str(tmp_path / "o.mp4"),
            "--weights",
            str(tmp_path / "w"),
        ]
    )
    assert code == 1
    assert "not a vid2vid checkpoint folder" in capsys.readouterr().err
