"""bench.call_impaired without a call: its figures, scenarios and command line."""

from __future__ import annotations

from vid2vid.bench.call_impaired import SCENARIOS, _longest_gap, main, table


def test_the_longest_gap_counts_from_the_start_and_up_to_the_end():
    assert _longest_gap([1.0, 1.5, 4.0], 0.0, 5.0) == 2.5
    assert _longest_gap([], 0.0, 3.0) == 3.0  # nothing at all: the whole window
    assert _longest_gap([1.0, 2.0], 0.0, 10.0) == 8.0  # a stream that stopped
    assert _longest_gap([1.0], 2.0, 1.0) is None


def test_every_scenario_issue_16_asks_for_is_there():
    labels = {name: s.label for name, s in SCENARIOS.items()}
    assert labels["loss5"] == "5% loss" and labels["loss20"] == "20% loss"
    assert labels["delay"] == "100±30 ms"
    assert labels["bursts"].startswith("GE bursts")
    assert labels["cap64"] == "64 kbit/s" and labels["cap32"] == "32 kbit/s"
    assert labels["cap-steps"] == "64→16→64 kbit/s"
    assert not SCENARIOS["cap32-unpaced"].adapt
    assert SCENARIOS["cap-steps"].forward.rate_at(20.0) == 16.0


def test_the_table_has_a_row_per_participant():
    row = {
        "scenario": "cap32", "participant": "receiver", "frames_sent": 300,
        "motion_delivered": 290, "frames_rendered": 60, "longest_freeze_s": 0.5,
        "time_to_first_frame_s": 1.4, "first_keyframe_s": 1.2, "full_keyframe_s": None,
        "motion_gap_during_keyframe_s": 0.4, "wire_forward_kbps": 20.0,
        "wire_return_kbps": 4.0, "load_average": 3.0, "levels": [(0.0, 1, "start")],
    }  # fmt: skip
    lines = table([row]).splitlines()
    assert len(lines) == 2 and lines[1].startswith("cap32") and "—" in lines[1]


def test_the_command_skips_without_its_clip_and_refuses_bad_seconds(tmp_path, capsys):
    assert main(["--clip", str(tmp_path / "absent.mp4")]) == 0
    assert "skipped: clip not found" in capsys.readouterr().err
    assert main(["--seconds", "0"]) == 2
