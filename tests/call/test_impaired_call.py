"""Real calls on loopback through the user-space bad network (bench.call_impaired's runner):
the real sender and receiver with the shipped default model, offer and answer through a real
signaling server. Behaviour, not timings: frames arrive and render, freezes stay bounded, the
keyframe gets through, a paced keyframe does not starve motion."""

from __future__ import annotations

import pytest

from vid2vid.bench.call_impaired import CLIP, SCENARIOS, run_call
from vid2vid.call.rtc import run


@pytest.fixture(scope="module")
def model():
    if not CLIP.is_file():
        pytest.skip(f"shared data absent: {CLIP}")
    from vid2vid.codec.checkpoint import load_weights
    from vid2vid.engines.runtime import open_runtime

    loaded = load_weights(None, None, announce=False)
    return loaded, open_runtime(loaded, "auto")


def _call(model, name: str, seconds: float) -> dict:
    return run(lambda: run_call(SCENARIOS[name], seconds, loaded_runtime=model))


def test_a_call_under_20_percent_loss_renders_with_bounded_freezes(model):
    r = _call(model, "loss20", 8.0)
    assert r["datagrams_lost"]["forward"] > 10  # the link did lose
    assert 0.5 * r["frames_sent"] < r["motion_delivered"] < 0.95 * r["frames_sent"]
    assert r["full_keyframe_s"] is not None  # reliable control: the keyframe got through
    assert r["frames_rendered"] >= 10
    assert r["time_to_first_frame_s"] < 5.0
    assert r["longest_freeze_s"] < 3.0


def test_a_call_under_a_32_kbps_cap_gets_its_keyframe_through_without_starving_motion(model):
    r = _call(model, "cap32", 10.0)
    assert r["full_keyframe_s"] is not None and r["full_keyframe_s"] < 10.0
    assert r["first_keyframe_s"] <= r["full_keyframe_s"]
    assert r["motion_gap_during_keyframe_s"] < 1.5  # paced: motion kept coming
    assert r["frames_rendered"] >= 10
    assert r["longest_freeze_s"] < 3.0
    assert r["wire_forward_kbps"] <= 32.0 * 1.05  # the cap held
    assert max(level for _, level, _ in r["levels"]) >= 1  # never at full quality here


@pytest.mark.slow
def test_without_pacing_the_same_cap_starves_motion_while_the_keyframe_travels(model):
    r = _call(model, "cap32-unpaced", 12.0)
    assert r["motion_gap_during_keyframe_s"] > 2.0  # what pacing removes
