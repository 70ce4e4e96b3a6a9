"""The soak benchmark: a short real run (three participants, signaling server, aiortc on
loopback) writes its report and every participant renders both others; the memory verdict on
made-up series."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vid2vid.bench import soak
from vid2vid.errors import ConfigError

CLIPS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "clips"
NAMES = ("alice", "bob", "carol")


def _series(rss: list[float], interval_s: float = 10.0) -> list[dict]:
    return [{"t_s": i * interval_s, "rss_mib": v} for i, v in enumerate(rss)]


def test_flat_memory_holds_and_a_leak_fails_with_its_slope():
    flat = soak.memory_verdict(_series([500.0] * 6 + [500.0, 520.0, 490.0] * 10), 60, 0.05, 10)
    assert flat["holds"] and flat["rss_after_warmup_mib"] == 500.0
    assert flat["max_raw_deviation_pct"] == 4.0 and flat["max_deviation_pct"] == 0.0
    # 1 MiB per sample (10 s) is 60 MiB per 10 min: 12 % over 10 minutes after a 500 MiB start
    leak = soak.memory_verdict(_series([500.0 + i for i in range(66)]), 60, 0.05, 10)
    assert leak["slope_mib_per_10min"] == pytest.approx(60.0)
    assert not leak["holds"] and leak["max_deviation_pct"] > 5


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="participants must be in 2..8, got 1"):
        soak.SoakConfig(participants=1)
    with pytest.raises(ConfigError, match="warmup_s must be in"):
        soak.SoakConfig(minutes=1, warmup_s=60)
    assert soak.main(["--minutes", "0"]) == 2


def test_missing_clips_skip_cleanly(tmp_path, capsys):
    clips = [str(tmp_path / f"absent{i}.mp4") for i in range(3)]
    assert soak.main(["--clips", *clips, "-o", str(tmp_path / "out")]) == 0
    assert "skipped: clip(s) not found" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_short_soak_reports_every_participant_rendering_both_others(tmp_path):
    clips = [CLIPS / f"lp_d{i}.mp4" for i in (0, 10, 11)]
    if not all(c.is_file() for c in clips):
        pytest.skip(f"shared data absent: {CLIPS}")
    out = tmp_path / "soak"
    argv = ["--minutes", "0.05", "--interval", "1", "--warmup", "0", "--fps", "5"]
    assert soak.main([*argv, "--clips", *map(str, clips), "-o", str(out)]) == 0

    report = json.loads((out / "soak.json").read_text())
    assert (out / "soak.png").stat().st_size > 0 and (out / "soak.txt").is_file()
    assert report["model"]["trained"] and report["config"]["participants"] == 3
    samples = report["samples"]
    assert len(samples) >= 4  # t = 0, then every second for 3 s
    times = [s["t_s"] for s in samples]
    assert times == sorted(times) and times[-1] >= 2.9
    for sample in samples:
        assert sample["rss_mib"] > 0 and sample["fds"] > 0 and sample["threads"] > 0
        assert set(sample["participants"]) == set(NAMES)
        for name, p in sample["participants"].items():
            others = set(NAMES) - {name}
            assert set(p["rendered_fps"]) == others == set(p["latency_ms"]) == set(p["state"])
            assert len(p["send_levels"]) == 2  # one adaptation level per receiver
    memory = report["memory"]
    for key in ("rss_start_mib", "rss_after_warmup_mib", "rss_end_mib", "slope_mib_per_10min"):
        assert memory[key] is not None and memory[key] > -1e6
    assert isinstance(memory["holds"], bool) and report["fds"]["max"] >= report["fds"]["min"]

    # the behaviour: everyone sent, and rendered fresh frames from both others
    participants = report["participants"]
    assert set(participants) == set(NAMES)
    for name, p in participants.items():
        assert p["frames_sent"] > 0
        assert set(p["rendered"]) == set(NAMES) - {name}
        for other, r in p["rendered"].items():
            assert r["frames"] > 0, f"{name} rendered nothing from {other}"
            assert r["latency_ms"]["n"] > 0

    # the saved samples can be judged again (a changed rule, a half-hour run kept)
    assert soak.main(["--rejudge", str(out / "soak.json"), "-o", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "soak.json").read_text())
    assert again["memory"] == memory and again["samples"] == samples
