"""The host frame decoder (link/framing.py) under hypothesis: properties over arbitrary frames and bytes.

* encode/decode round-trip every frame, alone and in a stream split at its delimiters;
* decoding arbitrary bytes either gives a frame or raises ``FrameError``: never another exception;
* a frame damaged on the wire (one byte changed, dropped or duplicated) never decodes to a frame.
  A changed byte inside the body is at most an 8-bit burst, which CRC-32 detects with certainty;
  a changed COBS code byte (or a dropped or duplicated byte) reshapes the body, which the length
  and COBS checks catch or the CRC does with probability 1 - 2^-32;
* garbage between frames costs nothing but itself: after the next delimiter, frames decode again.

tests/test_fuzz.py fuzzes the firmware's C parser the same way with libFuzzer.
"""

from __future__ import annotations

import struct
import zlib

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from mcudeploy.link import framing as F
from mcudeploy.link.framing import Frame, FrameError, decode, encode

frames = st.builds(Frame, seq=st.integers(0, 255), type=st.integers(0, 255),
                   payload=st.binary(max_size=F.MAX_PAYLOAD))
# payloads rich in zeros and in 254-byte runs exercise COBS's block boundaries
zeroish = st.lists(st.sampled_from([0, 1, 0xFF]), max_size=F.MAX_PAYLOAD).map(bytes)
frames_any = st.one_of(frames, st.builds(Frame, seq=st.integers(0, 255), type=st.integers(0, 255), payload=zeroish))


def decode_stream(wire: bytes) -> list[Frame]:
    """What a receiver does: split at delimiters, keep the parts that decode."""
    out = []
    for part in wire.split(b"\x00"):
        if part:
            try:
                out.append(decode(part))
            except FrameError:
                pass
    return out


@given(frames_any)
@settings(max_examples=300)
def test_roundtrip(frame):
    wire = encode(frame)
    assert wire[-1] == 0 and 0 not in wire[:-1]  # exactly one delimiter, at the end
    assert len(wire) - 1 <= F.MAX_ENCODED
    assert decode(wire[:-1]) == frame


@given(st.lists(frames_any, max_size=8))
@settings(max_examples=100)
def test_stream_roundtrip(frames_list):
    assert decode_stream(b"".join(encode(f) for f in frames_list)) == frames_list


@given(st.binary(max_size=F.MAX_ENCODED + 64))
@settings(max_examples=2000)
def test_arbitrary_bytes_raise_only_frame_error(data):
    try:
        f = decode(data)
    except FrameError:
        return
    # a frame by chance (a valid CRC-32): it must at least be a well-formed one
    assert isinstance(f, Frame) and f.version == F.VERSION and 0 <= f.seq < 256 and 0 <= f.type < 256


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=F.MAX_PAYLOAD - 8))
@settings(max_examples=300)
def test_valid_crc_but_wrong_version_or_length_is_refused(seq, type_, payload):
    body = bytes([F.VERSION + 1, seq, type_]) + payload
    with pytest.raises(FrameError, match="version"):
        decode(F.cobs_encode(body + struct.pack("<I", zlib.crc32(body))))
    short = payload[:3]
    with pytest.raises(FrameError, match="shorter"):
        decode(F.cobs_encode(short))


@given(frames_any, st.data())
@settings(max_examples=1000)
def test_any_single_byte_corruption_is_detected(frame, data):
    wire = bytearray(encode(frame)[:-1])
    i = data.draw(st.integers(0, len(wire) - 1), label="position")
    mask = data.draw(st.integers(1, 255), label="xor mask")
    wire[i] ^= mask
    # a byte turned into 0 is a delimiter: the frame splits in two, and neither half may decode
    assert decode_stream(bytes(wire)) == []


@given(frames_any, st.data())
@settings(max_examples=500)
def test_a_dropped_or_duplicated_byte_is_detected(frame, data):
    wire = encode(frame)[:-1]
    i = data.draw(st.integers(0, len(wire) - 1), label="position")
    dropped = wire[:i] + wire[i + 1:]
    duplicated = wire[:i + 1] + wire[i:]
    assert decode_stream(dropped) == []
    assert decode_stream(duplicated) == []


@given(frames_any, st.data())
@settings(max_examples=300)
def test_a_damaged_frame_never_decodes_to_another_frame(frame, data):
    """Several bytes changed at once: whatever survives decoding can only be the frame itself
    (the damage cancelled out, e.g. a byte flipped twice), never a different frame."""
    wire = bytearray(encode(frame)[:-1])
    for _ in range(data.draw(st.integers(1, 4), label="changes")):
        i = data.draw(st.integers(0, len(wire) - 1))
        wire[i] = data.draw(st.integers(1, 255))
    assume(bytes(wire) != encode(frame)[:-1])
    assert all(f == frame for f in decode_stream(bytes(wire)))


@given(st.lists(st.tuples(st.binary(max_size=300), frames_any), min_size=1, max_size=5))
@settings(max_examples=200)
def test_resync_after_garbage(pairs):
    """Noise, a half-sent frame or a reset board between frames: every frame after a delimiter decodes."""
    wire = b"".join(garbage + b"\x00" + encode(f) for garbage, f in pairs)
    got = decode_stream(wire)
    want = [f for _, f in pairs]
    # garbage could, with probability 2^-32 per part, hold a valid frame of its own: allow only that
    assert [f for f in got if f in want] == want
    assert len(got) == len(want)
