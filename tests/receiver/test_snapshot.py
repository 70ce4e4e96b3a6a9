"""What the receiver tells viewers about itself: its call state and whether its model is trained."""

from __future__ import annotations

import json

from support.recorder import Recorder
from vid2vid.codec.checkpoint import load_weights
from vid2vid.engines.runtime import open_runtime
from vid2vid.receiver.core import ReceiverCore


def _snapshot(loaded) -> dict:
    core = ReceiverCore(loaded, open_runtime(loaded, "torch"), Recorder())
    snapshot = core.snapshot()
    assert json.loads(json.dumps(snapshot)) == snapshot  # plain JSON, as sent to the page
    return snapshot


def test_an_untrained_receiver_says_so_to_viewers():
    loaded = load_weights(None, "tiny", announce=False)
    snapshot = _snapshot(loaded)
    assert snapshot["call"] == "waiting"
    assert snapshot["model"] == {
        "trained": False,
        "config": "tiny",
        "source": "untrained tiny (seed 0)",
        "fingerprint": loaded.fingerprint[:12],
    }


def test_the_shipped_model_is_named_default_not_by_its_path():
    loaded = load_weights(None, "default")
    model = _snapshot(loaded)["model"]
    assert model["trained"] is True
    assert model["source"] == "default"  # the path on this machine stays here
    assert model["config"] == loaded.config.name
    assert model["fingerprint"] == loaded.fingerprint[:12]
