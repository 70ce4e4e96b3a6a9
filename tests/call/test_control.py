"""Control messages: whatever arrives, parse_control returns a message or None, never raises."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from vid2vid.call import control


def test_round_trip_of_every_message():
    assert control.parse_control(control.hello_message(25.0, "ab" * 16, "tiny")) == control.Hello(
        25.0, "ab" * 16, "tiny"
    )
    assert control.parse_control(control.end_message()) == control.End()
    assert control.parse_control(control.keyframe_request_message()) == control.KeyframeRequest()
    assert control.parse_control(control.intra_request_message()) == control.IntraRequest()
    assert control.parse_control(control.view_message(10, -5, 2.5)) == control.View(10, -5, 2.5)
    stats = control.parse_control(control.stats_message({"fps": 3}))
    assert stats == control.Stats({"fps": 3})


def test_view_is_clamped_and_checked():
    assert control.parse_control('{"type":"view","yaw":1000}') == control.View(90.0, 0.0, 0.0)
    assert control.parse_control('{"type":"view","yaw":"left"}') is None
    assert control.parse_control('{"type":"view","yaw":true}') is None
    assert control.parse_control('{"type":"view","pitch":NaN}') is None


def test_malformed_and_unknown_messages_are_none():
    for text in ("", "{", "[]", "3", '{"type": 1}', '{"type":"nope"}', '{"type":"hello"}',
                 "x" * (control.MAX_CONTROL_BYTES + 1), b"\xff\xfe"):  # fmt: skip
        assert control.parse_control(text) is None


@settings(max_examples=50)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_random_input_never_raises(text):
    control.parse_control(text)


@settings(max_examples=50)
@given(st.dictionaries(st.sampled_from(["type", "yaw", "fps", "fingerprint", "model"]),
                       st.one_of(st.none(), st.booleans(), st.floats(), st.text(max_size=5),
                                 st.sampled_from(["view", "hello", "end"]))))  # fmt: skip
def test_random_objects_never_raise(data):
    import json

    control.parse_control(json.dumps(data))


def test_deeply_nested_json_is_none_not_recursion_error():
    assert len("[" * 5000) < control.MAX_CONTROL_BYTES
    assert control.parse_control("[" * 5000) is None
    assert control.parse_control('{"type": "view", "yaw": ' + "[" * 5000) is None


def test_link_report_round_trips_and_knows_its_loss():
    report = control.LinkReport(1000.0, received=45, lost=5, late=2, delay_ms=120.5, kbps=18.25)
    parsed = control.parse_control(control.link_message(report))
    assert parsed == report
    assert isinstance(parsed, control.LinkReport) and parsed.loss == 0.1
    assert control.LinkReport(1000.0, 0, 0, 0, 0.0, 0.0).loss == 0.0


def test_link_reports_out_of_range_or_not_numbers_are_dropped():
    good = {"interval_ms": 1000, "received": 3, "lost": 0, "late": 0, "delay_ms": 5, "kbps": 1}
    assert control.parse_control(json.dumps({"type": "link", **good})) is not None
    for name, bad in [
        ("received", -1),
        ("lost", 2.5),
        ("delay_ms", 1e9),
        ("kbps", "fast"),
        ("interval_ms", 0),
        ("late", True),
        ("lost", None),
    ]:
        message = json.dumps({"type": "link", **good, name: bad})
        assert control.parse_control(message) is None, (name, bad)
