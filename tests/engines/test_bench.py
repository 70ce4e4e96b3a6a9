"""vid2vid-engines-bench runs and writes its JSON (a smoke run: the numbers are not checked)."""

from __future__ import annotations

import json

import pytest

from vid2vid.engines.bench import bench_config, main
from vid2vid.errors import Vid2VidError


def test_bench_configs_render_the_requested_size():
    assert bench_config("tiny", 512).output_size == 512
    assert bench_config("tiny", 256).input_size == 256
    assert bench_config("paper", 512).name == "paper-512"
    with pytest.raises(Vid2VidError, match="512 px only"):
        bench_config("liveportrait", 256)


def test_bench_writes_a_row_per_engine_stage_and_batch(tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = ["--configs", "tiny", "--sizes", "256", "--stages", "motion", "--engines", "torch"]
    assert main([*argv, "--repeats", "1", "--device", "cpu", "--quiet", "-o", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["stage"], r["engine"], r["batch"]) for r in rows] == [("motion", "torch-cpu", 1)]
    assert rows[0]["fps"] > 0 and "tiny-256" in capsys.readouterr().out
    assert main(["--batch", "0", "-o", str(out)]) == 2
