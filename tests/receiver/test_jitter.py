"""The reorder/jitter buffer: in order, or not at all."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vid2vid.receiver.jitter import JitterBuffer


def _seqs(released):
    return [r.sequence for r in released]


def test_in_order_packets_leave_at_once():
    buffer = JitterBuffer(hold_ms=30)
    for seq in (10, 11, 12):
        assert buffer.push(seq, bytes([seq]), now_ms=0)
    assert _seqs(buffer.pop_ready(0)) == [10, 11, 12]
    assert buffer.deadline_ms() is None


def test_a_reordered_packet_is_waited_for_within_the_hold():
    buffer = JitterBuffer(hold_ms=30)
    buffer.push(1, b"1", 0)
    assert _seqs(buffer.pop_ready(0)) == [1]
    buffer.push(3, b"3", 5)
    assert buffer.pop_ready(10) == []  # 2 may still come
    assert buffer.deadline_ms() == 35
    buffer.push(2, b"2", 12)
    assert _seqs(buffer.pop_ready(12)) == [2, 3]


def test_a_lost_packet_is_skipped_after_the_hold_and_a_late_one_dropped():
    buffer = JitterBuffer(hold_ms=30)
    buffer.push(1, b"1", 0)
    buffer.pop_ready(0)
    buffer.push(3, b"3", 5)
    released = buffer.pop_ready(35)
    assert _seqs(released) == [3] and released[0].skipped == 1
    assert not buffer.push(2, b"2", 40)  # late: never rendered out of order
    assert buffer.late == 1
    assert not buffer.push(3, b"3", 41) and buffer.late == 2  # behind the next expected too


def test_duplicates_are_dropped():
    buffer = JitterBuffer(hold_ms=30)
    buffer.push(5, b"a", 0)
    buffer.push(7, b"c", 0)
    assert not buffer.push(7, b"c", 1)
    assert buffer.duplicates == 1


def test_sequence_numbers_wrap():
    buffer = JitterBuffer(hold_ms=30)
    for seq in (65534, 65535, 0, 1):
        buffer.push(seq, b"x", 0)
    assert _seqs(buffer.pop_ready(0)) == [65534, 65535, 0, 1]


def test_a_restarted_sender_is_followed_not_treated_as_late():
    buffer = JitterBuffer(hold_ms=30)
    buffer.push(40000, b"x", 0)
    buffer.pop_ready(0)
    assert buffer.push(12, b"y", 1)  # far away: a new stream
    assert _seqs(buffer.pop_ready(1)) == [12]


@given(st.permutations(list(range(20))), st.sets(st.integers(0, 19), max_size=8))
def test_output_is_always_increasing_and_complete_for_what_arrived_in_time(order, lost):
    buffer = JitterBuffer(hold_ms=1000, capacity=64)
    arrived = [s for s in order if s not in lost]
    out = []
    for t, seq in enumerate(arrived):
        buffer.push(seq, b"", t)
        out += _seqs(buffer.pop_ready(t))
    out += _seqs(buffer.pop_ready(10_000))
    assert out == sorted(out)
    assert set(out) <= set(arrived)
    # Each packet that arrived left the buffer once or was counted late, never both.
    assert len(out) + buffer.late == len(arrived)
    assert out[-1] == max(arrived) if arrived else out == []


def test_capacity_is_enforced_before_the_first_release():
    """With nothing released yet (``_next`` unset) a flood of sequences stays bounded."""
    buffer = JitterBuffer(hold_ms=30, capacity=8)
    for sequence in range(0, 2000, 2):  # every one a gap: none can leave
        assert buffer.push(sequence, b"p", now_ms=0)
        assert len(buffer._held) <= 8
    assert buffer.overflowed == 1000 - 8
    assert [r.sequence for r in buffer.pop_ready(now_ms=100)] == list(range(1984, 2000, 2))


def test_capacity_is_enforced_while_waiting_for_a_gap():
    buffer = JitterBuffer(hold_ms=30, capacity=4)
    buffer.push(0, b"p", 0)
    assert [r.sequence for r in buffer.pop_ready(0)] == [0]
    for sequence in range(2, 12):  # 1 never comes
        buffer.push(sequence, b"p", 0)
    assert len(buffer._held) == 4
    assert buffer.overflowed == 6
