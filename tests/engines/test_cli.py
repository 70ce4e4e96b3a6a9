"""vid2vid-engines: one-line errors and exit codes (export itself runs in the exported fixture)."""

from __future__ import annotations

import pytest

from vid2vid.engines.cli import main
from vid2vid.engines.runtime import tensorrt_available


def test_export_prints_each_file_with_its_parity(exported, capsys):
    folder, graphs, _ = exported
    assert {p.name for p in folder.iterdir()} == {
        "motion.onnx",
        "keyframe.onnx",
        "decoder.onnx",
        "decoder_planar.onnx",
        "manifest.json",
    }


def test_check_passes_the_planar_decoder_and_fails_the_5d_one(exported, capsys):
    folder, _, _ = exported
    assert main(["check", str(folder / "decoder_planar.onnx"), str(folder / "motion.onnx")]) == 0
    assert main(["check", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "decoder.onnx: 2 problem(s) for TensorRT 10.15" in out
    assert "input rank 5, TensorRT takes 4D GridSample only" in out


@pytest.mark.skipif(tensorrt_available(), reason="TensorRT and pycuda are installed here")
def test_build_without_tensorrt_is_a_one_line_error(capsys):
    assert main(["build", "--config", "tiny", "--fp16", "--batch", "4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("vid2vid-engines: error: TensorRT engines need tensorrt and pycuda")
    assert "pip install 'vid2vid[trt]'" in err


def test_bad_arguments_fail_cleanly(tmp_path, capsys):
    assert main(["build", "--config", "tiny", "--batch", "0"]) == 2
    assert "--batch must be at least 1, got 0" in capsys.readouterr().err
    assert main(["export", "--config", "nope", "-o", str(tmp_path)]) == 2
    assert "unknown model config 'nope'" in capsys.readouterr().err
    assert main(["export", "--weights", str(tmp_path / "missing"), "-o", str(tmp_path)]) == 2
    assert "not a vid2vid checkpoint folder" in capsys.readouterr().err
