"""Motion packets: intra packets that stand alone, predicted packets coded against an intra.

Payloads, after the 8-byte :class:`~vid2vid.codec.bitstream.header.PacketHeader`::

    intra:     u8 quality | u8 has_scale << 7 | K | u8 prior x G | length | coded absolute symbols
    predicted: u8 distance to its intra                        | length | coded symbol changes

``length`` is the byte count of the coded part as a 1- or 2-byte LEB128 varint (one byte up to
127), so a cut or padded packet is reported exactly. The G prior bytes (one per value group:
angles, translation, deformation, scale) are the Laplace scales with which the predicted packets
of this intra are coded: the sender fits them on the changes it coded during the previous intra
period (:func:`~vid2vid.codec.bitstream.entropy.byte_to_scale`).

Why predicted packets refer to the last *intra* and never to the previous packet: the motion
channel is unordered and never retransmits, so a lost packet must not spoil the ones after it.
A predicted packet names its intra by the distance back from its own sequence number
(``intra = sequence - distance``), exactly and across the 16-bit wrap; a decoder that lacks that
intra says so, and the receiver waits for (or asks for) the next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from vid2vid.codec.bitstream import entropy
from vid2vid.codec.bitstream.header import (
    HEADER_SIZE,
    SEQUENCE_MODULUS,
    STREAM_ID_MAX,
    PacketHeader,
    PacketType,
    sequence_distance,
    wire_timestamp,
)
from vid2vid.codec.bitstream.motion_params import Group, MotionLayout, MotionParams
from vid2vid.codec.bitstream.quantize import (
    QUALITY_MAX,
    QUALITY_MIN,
    SYMBOL_LIMIT,
    Quantizer,
    check_quality,
    default_delta_spread,
    group_step,
    intra_spread,
    quantizer,
)
from vid2vid.errors import BitstreamError, ConfigError, MissingIntraError

#: Steps 4.6x the base (1.15°, 0.0092; worst error 0.6 px at 256 px). The default model sends
#: K = 32 (20 face keypoints, 12 background points): on its five held-out people quality 28 costs
#: 8.5 kbit/s all-in (at most 9.5) for 25.09 dB, quality 34 9.5 kbit/s (two people over 10) for
#: 25.36 dB. rate.py picks the quality for a real target and clip.
DEFAULT_QUALITY = 28
DEFAULT_INTRA_PERIOD = 30
#: A distance to the intra is one byte on the wire.
INTRA_PERIOD_MAX = 255
#: The Laplace scale (symbols) of a value a planar layout fixes at zero: P(0) ≈ 1 - 1e-8.
ZERO_SCALE = 0.03
#: The smallest prior scale (symbols) the sender fits: a head that sat still for a second may move
#: in the next, and a prior narrower than this would make each small change cost many bits.
MIN_PRIOR_SCALE = 0.2
_MAX_LENGTH = (1 << 14) - 1  # two varint bytes


@dataclass(frozen=True)
class DecodedMotion:
    """A decoded motion packet; ``reference_sequence`` is the intra it needs (itself for one)."""

    header: PacketHeader
    params: MotionParams
    reference_sequence: int


@dataclass(frozen=True)
class _Intra:
    """What predicted packets are coded against: an intra's symbols and priors."""

    stream_id: int
    sequence: int
    quantizer: Quantizer
    symbols: np.ndarray  # size, int64
    delta_scales: np.ndarray  # size, Laplace scale of each value's change (symbols)


def _length_bytes(length: int) -> bytes:
    if length > _MAX_LENGTH:
        raise BitstreamError(f"coded motion is {length} bytes, more than {_MAX_LENGTH}")
    if length < 0x80:
        return bytes([length])
    return bytes([0x80 | (length & 0x7F), length >> 7])


@lru_cache(maxsize=64)
def _intra_scales(q: Quantizer) -> np.ndarray:
    """Fixed Laplace scales (symbols) of the absolute values of an intra packet (read-only)."""
    spreads = np.array([intra_spread(g) for g in range(q.layout.num_groups)])
    scales = spreads[q.layout.groups] / q.steps  # size
    scales[q.layout.fixed_zero] = ZERO_SCALE
    scales.flags.writeable = False
    return scales


def _value_scales(layout: MotionLayout, group_scales: np.ndarray) -> np.ndarray:
    """Per-value Laplace scales of a predicted packet from its intra's per-group priors."""
    scales = group_scales[layout.groups]
    scales[layout.fixed_zero] = ZERO_SCALE
    return scales


def _fit_prior(mean_abs: float) -> float:
    """The Laplace scale b (symbols) whose quantized form has E|k| = ``mean_abs``.

    For integer k, E|k| = y / (1 - y**2) with y = exp(-1 / (2 b)); solved for y.
    """
    if mean_abs <= 0.0:
        return MIN_PRIOR_SCALE
    y = (np.sqrt(1.0 + 4.0 * mean_abs**2) - 1.0) / (2.0 * mean_abs)
    return max(MIN_PRIOR_SCALE, float(-1.0 / (2.0 * np.log(y))))


class MotionEncoder:
    """Turns frames of motion into packets; one per stream, on the sender.

    An intra packet goes out first, then at least every ``intra_period`` packets, on
    :meth:`request_intra` (a receiver lost its intra) and when :attr:`quality` changes.
    Sequence numbers start at ``first_sequence`` (RTP starts at a random one) and wrap at 2**16.
    """

    def __init__(
        self,
        layout: MotionLayout,
        quality: int = DEFAULT_QUALITY,
        stream_id: int = 0,
        intra_period: int = DEFAULT_INTRA_PERIOD,
        first_sequence: int = 0,
    ) -> None:
        if not 1 <= intra_period <= INTRA_PERIOD_MAX:
            raise ConfigError(f"intra_period {intra_period} is out of range 1..{INTRA_PERIOD_MAX}")
        if not 0 <= stream_id <= STREAM_ID_MAX:
            raise ConfigError(f"stream_id {stream_id} is out of range 0..{STREAM_ID_MAX}")
        self.layout = layout
        self.stream_id = stream_id
        self.intra_period = intra_period
        self._quality = check_quality(quality)
        self._sequence = first_sequence % SEQUENCE_MODULUS
        self._intra: _Intra | None = None
        self._intra_wanted = True
        groups = range(layout.num_groups)
        #: Mean |change| per group (value units) over the current intra period, and its count.
        self._spread = np.array([default_delta_spread(g) for g in groups])
        self._change_sum = np.zeros(layout.num_groups)
        self._change_count = np.zeros(layout.num_groups)

    @property
    def quality(self) -> int:
        return self._quality

    @quality.setter
    def quality(self, quality: int) -> None:
        """A new quality is sent in an intra packet, so setting a different one forces one."""
        quality = check_quality(quality)
        if quality != self._quality:
            self._quality = quality
            self._intra_wanted = True

    def request_intra(self) -> None:
        """Make the next packet an intra packet (a receiver joined or lost its intra)."""
        self._intra_wanted = True

    def encode(self, params: MotionParams, timestamp_ms: int, force_intra: bool = False) -> bytes:
        """One whole packet (header and payload) for one frame."""
        values = self.layout.flatten(params)
        sequence = self._sequence
        self._sequence = (sequence + 1) % SEQUENCE_MODULUS
        intra = self._intra
        if (
            intra is None
            or force_intra
            or self._intra_wanted
            or sequence_distance(sequence, intra.sequence) >= self.intra_period
        ):
            return self._encode_intra(values, sequence, timestamp_ms)
        return self._encode_predicted(values, intra, sequence, timestamp_ms)

    def _header(self, packet_type: PacketType, sequence: int, timestamp_ms: int) -> bytes:
        return bytes(
            PacketHeader(packet_type, self.stream_id, sequence, wire_timestamp(timestamp_ms))
        )

    def _encode_intra(self, values: np.ndarray, sequence: int, timestamp_ms: int) -> bytes:
        q = quantizer(self.layout, self._quality)
        symbols = q.quantize(values)
        seen = self._change_count > 0
        self._spread[seen] = self._change_sum[seen] / self._change_count[seen]
        self._change_sum[:] = 0.0
        self._change_count[:] = 0.0
        priors = bytes(
            entropy.scale_to_byte(_fit_prior(spread / group_step(Group(g), self._quality)))
            for g, spread in enumerate(self._spread)
        )
        delta_scales = _value_scales(
            self.layout, np.array([entropy.byte_to_scale(b) for b in priors])
        )
        self._intra = _Intra(self.stream_id, sequence, q, symbols, delta_scales)
        self._intra_wanted = False
        coded = entropy.encode_symbols(symbols, _intra_scales(q))
        fields = bytes([self._quality, int(self.layout.has_scale) << 7 | self.layout.num_kp])
        return (
            self._header(PacketType.MOTION_INTRA, sequence, timestamp_ms)
            + fields
            + priors
            + _length_bytes(len(coded))
            + coded
        )

    def _encode_predicted(
        self, values: np.ndarray, intra: _Intra, sequence: int, timestamp_ms: int
    ) -> bytes:
        changes = intra.quantizer.quantize(values) - intra.symbols
        magnitudes = np.abs(changes) * intra.quantizer.steps
        live = ~self.layout.fixed_zero  # the always-zero values would only shrink the priors
        groups = self.layout.groups[live]
        self._change_sum += np.bincount(groups, magnitudes[live], self.layout.num_groups)
        self._change_count += np.bincount(groups, minlength=self.layout.num_groups)
        coded = entropy.encode_symbols(changes, intra.delta_scales)
        distance = sequence_distance(sequence, intra.sequence)
        return (
            self._header(PacketType.MOTION_PREDICTED, sequence, timestamp_ms)
            + bytes([distance])
            + _length_bytes(len(coded))
            + coded
        )


class MotionDecoder:
    """Turns motion packets back into frames; one per stream, on the receiver.

    Keeps the two newest intra packets, so a predicted packet that arrives just after the next
    intra (the channel is unordered) still decodes.
    """

    def __init__(self, layout: MotionLayout) -> None:
        self.layout = layout
        self._intras: list[_Intra] = []

    def decode(self, packet: bytes, header: PacketHeader | None = None) -> DecodedMotion:
        """Decode one packet, or raise BitstreamError saying exactly what is wrong with it
        (:class:`~vid2vid.errors.MissingIntraError` when its intra packet was lost).

        ``header``: the packet's header when the caller has parsed it already (the stream
        layer's dispatcher has), so it is not parsed twice.
        """
        header = PacketHeader.parse(packet) if header is None else header
        header.expect(PacketType.MOTION_INTRA, PacketType.MOTION_PREDICTED)
        payload = memoryview(packet)[HEADER_SIZE:]
        if header.packet_type is PacketType.MOTION_INTRA:
            intra, values = self._decode_intra(header, payload)
            self._keep(intra)
        else:
            intra, values = self._decode_predicted(header, payload)
        return DecodedMotion(header, self.layout.unflatten(values), intra.sequence)

    def _decode_intra(self, header: PacketHeader, payload: memoryview) -> tuple[_Intra, np.ndarray]:
        name = f"intra packet {header.sequence}"
        groups = self.layout.num_groups
        fixed = 2 + groups
        if len(payload) < fixed + 1:
            raise BitstreamError(
                f"{name} is truncated: {len(payload)} of at least {fixed + 1} payload bytes"
            )
        quality, form = payload[0], payload[1]
        if not QUALITY_MIN <= quality <= QUALITY_MAX:
            raise BitstreamError(
                f"{name} has quality {quality}, expected {QUALITY_MIN}..{QUALITY_MAX}"
            )
        num_kp, has_scale = form & 0x7F, bool(form >> 7)
        if (num_kp, has_scale) != (self.layout.num_kp, self.layout.has_scale):
            raise BitstreamError(
                f"{name} is for {_describe(num_kp, has_scale)},"
                f" this decoder expects {_describe(self.layout.num_kp, self.layout.has_scale)}"
            )
        q = quantizer(self.layout, quality)
        priors = np.array([entropy.byte_to_scale(b) for b in payload[2:fixed]])
        symbols = _check_range(name, self._symbols(name, payload, fixed, _intra_scales(q)))
        intra = _Intra(
            header.stream_id, header.sequence, q, symbols, _value_scales(self.layout, priors)
        )
        return intra, q.dequantize(symbols)

    def _decode_predicted(
        self, header: PacketHeader, payload: memoryview
    ) -> tuple[_Intra, np.ndarray]:
        name = f"predicted packet {header.sequence}"
        if len(payload) < 2:
            raise BitstreamError(f"{name} is truncated: {len(payload)} of at least 2 payload bytes")
        distance = payload[0]
        if distance == 0:
            raise BitstreamError(f"{name} refers to itself as its intra packet")
        reference = (header.sequence - distance) % SEQUENCE_MODULUS
        intra = next(
            (i for i in self._intras if (i.stream_id, i.sequence) == (header.stream_id, reference)),
            None,
        )
        if intra is None:
            raise MissingIntraError(
                f"{name} refers to intra packet {reference}, which this decoder does not have"
            )
        changes = self._symbols(name, payload, 1, intra.delta_scales)
        symbols = _check_range(name, intra.symbols + changes)
        return intra, intra.quantizer.dequantize(symbols)

    def _symbols(
        self, name: str, payload: memoryview, start: int, scales: np.ndarray
    ) -> np.ndarray:
        """Read ``length | coded`` at ``start`` and decode it; check sizes and symbol ranges."""
        length, start = _read_length(name, payload, start)
        if len(payload) < start + length:
            raise BitstreamError(
                f"{name} is truncated: {len(payload)} of {start + length} payload bytes"
            )
        if len(payload) > start + length:
            raise BitstreamError(
                f"{name} has {len(payload) - start - length} trailing bytes"
                f" after its {start + length}-byte payload"
            )
        try:
            symbols = entropy.decode_symbols(bytes(payload[start:]), scales)
        except BitstreamError as error:
            raise BitstreamError(f"{name}: {error}") from error
        return symbols

    def _keep(self, intra: _Intra) -> None:
        """Hold ``intra`` among the two newest intra packets (serial order, across the wrap)."""

        def age(held: _Intra) -> int:  # packets ``held`` came before ``intra``, signed
            distance = sequence_distance(intra.sequence, held.sequence)
            return distance - SEQUENCE_MODULUS if distance >= SEQUENCE_MODULUS // 2 else distance

        others = [i for i in self._intras if i.sequence != intra.sequence]
        self._intras = sorted([intra, *others], key=age)[:2]


def _check_range(name: str, symbols: np.ndarray) -> np.ndarray:
    """``symbols`` unless one lies beyond what any quantizer writes."""
    if int(np.abs(symbols).max()) > SYMBOL_LIMIT:
        raise BitstreamError(f"{name} holds a value beyond ±{SYMBOL_LIMIT} quantization steps")
    return symbols


def _describe(num_kp: int, has_scale: bool) -> str:
    return f"{num_kp} keypoints {'with' if has_scale else 'without'} scale"


def _read_length(name: str, payload: memoryview, start: int) -> tuple[int, int]:
    """The LEB128 length at ``start`` (1 or 2 bytes) and where the coded bytes begin."""
    if len(payload) <= start:
        raise BitstreamError(
            f"{name} is truncated: {len(payload)} of at least {start + 1} payload bytes"
        )
    first = payload[start]
    if first < 0x80:
        return first, start + 1
    if len(payload) <= start + 1:
        raise BitstreamError(
            f"{name} is truncated: {len(payload)} of at least {start + 2} payload bytes"
        )
    second = payload[start + 1]
    if second == 0 or second >= 0x80:
        raise BitstreamError(f"{name} has a malformed length field 0x{first:02x}{second:02x}")
    return (first & 0x7F) | second << 7, start + 2
