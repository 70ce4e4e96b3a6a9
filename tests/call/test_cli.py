"""The flags and the model loading vid2vid-send and vid2vid-recv share."""

from __future__ import annotations

import argparse
import logging

from vid2vid.call.cli import add_common_arguments, load_model


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_common_arguments(parser)
    return parser.parse_args(["--peer", "http://127.0.0.1:1", *argv])


def test_untrained_weights_are_said_once_with_the_fingerprint(capsys, caplog) -> None:
    caplog.set_level(logging.INFO)
    loaded = load_model(_args("--config", "tiny"), "vid2vid-recv")
    err = capsys.readouterr().err
    said = err.count("UNTRAINED") + caplog.text.count("UNTRAINED")
    assert said == 1
    assert "vid2vid-recv runs with UNTRAINED weights" in err
    assert loaded.fingerprint in err


def test_the_shipped_model_is_not_called_untrained(capsys, caplog) -> None:
    caplog.set_level(logging.INFO)
    loaded = load_model(_args(), "vid2vid-send")
    assert loaded.trained
    assert "UNTRAINED" not in capsys.readouterr().err + caplog.text
