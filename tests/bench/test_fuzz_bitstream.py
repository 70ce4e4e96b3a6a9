"""A short fuzz run in CI; the benchmark runs 10^5 inputs per target."""

from __future__ import annotations

import json
from pathlib import Path

from vid2vid.bench.fuzz_bitstream import main


def test_short_fuzz_run_has_no_crashes(tmp_path: Path, capsys) -> None:
    report = tmp_path / "fuzz.json"
    assert main(["--iterations", "1500", "--seed", "7", "--json", str(report)]) == 0
    document = json.loads(report.read_text())
    assert document["crashes"] == 0
    assert set(document["targets"]) == {"header", "motion", "keyframe", "chunks", "container"}
    # The mutations reach past the first check: some inputs decode, most are refused.
    motion = document["targets"]["motion"]
    assert motion["accepted"] > 0 and motion["rejected"] > 0
    assert "0 crashes" in capsys.readouterr().out
