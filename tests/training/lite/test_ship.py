"""The model card describes the shipped step, not where the run went after it."""

from __future__ import annotations

from vid2vid.training.lite.ship import changes_until, setting_at

SETTINGS = {
    "lr": "5e-05",
    "batch": 8,
    "changes": [
        {"key": "data", "value": "/d/new", "was": "/d/old", "from_step": 100},
        {"key": "lr", "value": "5e-05", "was": "0.0001", "from_step": 3334},
    ],
}


def test_only_changes_up_to_the_shipped_step_are_listed() -> None:
    assert [c["key"] for c in changes_until(SETTINGS, 1160)] == ["data"]
    assert [c["key"] for c in changes_until(SETTINGS, 3334)] == ["data", "lr"]


def test_a_setting_is_read_as_it_was_at_the_shipped_step() -> None:
    assert setting_at(SETTINGS, "lr", 1160) == "0.0001"
    assert setting_at(SETTINGS, "lr", 5000) == "5e-05"
    assert setting_at(SETTINGS, "batch", 1160) == 8


def test_a_change_recorded_without_its_old_value_says_when_the_current_one_came() -> None:
    old = {"lr": "5e-05", "changes": [{"key": "lr", "value": "5e-05", "from_step": 3334}]}
    assert setting_at(old, "lr", 1160) == "5e-05 (from step 3334)"


def test_the_card_names_the_loss_the_shipped_step_trained_with() -> None:
    from vid2vid.training.lite.ship import loss_text

    assert "weighted 3x" in loss_text({}, 10) and "squared" not in loss_text({}, 10)
    tuned = {
        "expression_weight": 0.5,
        "squared_weight": 10.0,
        "changes": [
            {"key": "squared_weight", "value": "10.0", "was": "None", "from_step": 0},
            {"key": "expression_weight", "value": "0.5", "was": "2.0", "from_step": 0},
        ],
    }
    assert "weighted 1.5x" in loss_text(tuned, 10) and "10x the output's mean squared" in loss_text(
        tuned, 10
    )


def test_card_describes_background_points_only_where_the_model_has_them() -> None:
    from vid2vid.codec.config import preset
    from vid2vid.training.lite.ship import architecture_lines

    plain = " ".join(architecture_lines(preset("lite-256")))
    grown = " ".join(architecture_lines(preset("lite-256bg")))
    assert "K = 20" in plain and "background" not in plain and "21 hypotheses" in plain
    assert "K = 32" in grown and "12 background points" in grown and "33 hypotheses" in grown
