"""Framing and protocol of the host link, without an emulator: loop:// and a fake device.

The firmware's own frame.c is also built for the host and fed the same frames, so the C and
Python halves of the framing are checked against each other byte for byte.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st
from mcudeploy.errors import LinkError
from mcudeploy.link import framing
from mcudeploy.link.framing import Frame, FrameError, cobs_decode, cobs_encode, decode, encode
from mcudeploy.link.protocol import DeviceError, Link
from mcudeploy.paths import FIRMWARE_TEMPLATE

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
from fake_device import FakeDevicePort


# --- COBS and frames ------------------------------------------------------------------------------
@given(st.binary(max_size=1200))
def test_cobs_roundtrip_has_no_zero(data):
    enc = cobs_encode(data)
    assert 0 not in enc
    assert cobs_decode(enc) == data
    assert len(enc) <= len(data) + len(data) // 254 + 1


@pytest.mark.parametrize("n", [0, 1, 253, 254, 255, 508, 509])
def test_cobs_block_boundaries(n):
    for data in (b"\x01" * n, b"\x01" * n + b"\x00", b"\x00" + b"\x07" * n):
        assert cobs_decode(cobs_encode(data)) == data


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=framing.MAX_PAYLOAD))
@settings(max_examples=200)
def test_frame_roundtrip(seq, type_, payload):
    wire = encode(Frame(seq, type_, payload))
    assert wire.endswith(b"\x00") and wire.count(0) == 1
    assert decode(wire[:-1]) == Frame(seq, type_, payload)


def test_every_single_byte_corruption_is_caught():
    wire = encode(Frame(5, 0x02, bytes(range(40))))[:-1]
    for i in range(len(wire)):
        for flip in (0x01, 0x80):
            bad = bytearray(wire)
            bad[i] ^= flip
            if 0 in bad:  # a corruption into the delimiter splits the frame: both halves fail
                parts = bytes(bad).split(b"\x00")
            else:
                parts = [bytes(bad)]
            for part in parts:
                with pytest.raises(FrameError):
                    decode(part)


def test_bad_frames_are_rejected_with_a_reason():
    with pytest.raises(FrameError, match="shorter"):
        decode(cobs_encode(b"\x01\x02\x03"))
    with pytest.raises(FrameError, match="CRC"):
        decode(cobs_encode(b"\x01\x02\x03\x04\x05\x06\x07"))
    body = bytes([9, 1, 1])
    with pytest.raises(FrameError, match="version 9"):
        decode(cobs_encode(body + struct.pack("<I", zlib.crc32(body))))
    with pytest.raises(FrameError, match="COBS"):
        decode(b"\x05\x01")
    with pytest.raises(FrameError, match="exceeds"):
        decode(b"\x01" * (framing.MAX_ENCODED + 1))
    with pytest.raises(ValueError):
        encode(Frame(0, 1, bytes(framing.MAX_PAYLOAD + 1)))
    with pytest.raises(FrameError, match="payload of 1025 bytes exceeds 1024"):
        decode(_oversized(framing.MAX_PAYLOAD + 1)[:-1])


def _oversized(n: int) -> bytes:
    """A frame with a valid CRC and an n-byte payload, which encode() refuses to make."""
    body = bytes([framing.VERSION, 3, 1]) + bytes(range(1, 256)) * (n // 255) + bytes(range(1, n % 255 + 1))
    return cobs_encode(body + struct.pack("<I", zlib.crc32(body))) + b"\x00"


def test_frames_survive_a_loop_port():
    port = serial.serial_for_url("loop://", timeout=0.1)
    frames = [Frame(i % 256, 0x03, bytes([i % 256]) * i) for i in range(0, 300, 37)]
    for f in frames:
        port.write(encode(f))
    raw = port.read(10_000).split(b"\x00")
    assert [decode(r) for r in raw if r] == frames


# --- the C framing of the firmware, built for the host --------------------------------------------
@pytest.fixture(scope="module")
def frame_host(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no host C compiler (apt-get install gcc)")
    exe = tmp_path_factory.mktemp("frame") / "frame_host"
    src = FIRMWARE_TEMPLATE / "src"
    subprocess.run([cc, "-std=c99", "-O2", "-Wall", "-Werror", "-I", str(src), str(FIXTURES / "frame_host.c"),
                    str(src / "frame.c"), "-o", str(exe)], check=True)
    return exe


def _run_c(exe, wire: bytes) -> list[Frame]:
    out = subprocess.run([str(exe)], input=wire, capture_output=True, check=True).stdout
    return [decode(r) for r in out.split(b"\x00") if r]


def test_c_framing_matches_python(frame_host):
    frames = [Frame(s, t, bytes((s * 7 + i) % 256 for i in range(n)))
              for s, t, n in [(0, 1, 0), (1, 2, 1), (2, 3, 253), (3, 4, 254), (4, 5, 255), (200, 6, 1024)]]
    wire = b"".join(encode(f) for f in frames)
    assert _run_c(frame_host, wire) == frames
    # byte-exact: the C encoder produces what the Python encoder produces, plus the spare delimiter
    out = subprocess.run([str(frame_host)], input=wire, capture_output=True, check=True).stdout
    assert out == b"".join(encode(f) + b"\x00" for f in frames)


def test_c_framing_reports_bad_frames_and_keeps_going(frame_host):
    good = encode(Frame(9, 1, b"ok"))
    bad_crc = bytearray(encode(Frame(7, 1, b"hello")))
    bad_crc[5] ^= 0x01  # inside the payload: still valid COBS, wrong CRC
    too_long = b"\x01" * (framing.MAX_ENCODED + 50) + b"\x00"
    short = cobs_encode(b"\x01\x02") + b"\x00"
    bad_version = cobs_encode(b"\x01\x05\x01" + struct.pack("<I", zlib.crc32(b"\x01\x05\x01"))) + b"\x00"
    over_payload = _oversized(framing.MAX_PAYLOAD + 1)  # fits the encoded bound, not the payload's
    got = _run_c(frame_host, b"\x00\x00" + bytes(bad_crc) + too_long + short + bad_version + over_payload + good)
    assert [(f.type, f.payload[:1]) for f in got] == [(0x7F, b"\x01"), (0x7F, b"\x02"), (0x7F, b"\x02"),
                                                       (0x7F, b"\x04"), (0x7F, b"\x02"), (1, b"o")]
    assert got[-1] == Frame(9, 1, b"ok")


# --- the protocol against a fake device on loop:// ------------------------------------------------
@pytest.fixture
def fake():
    return FakeDevicePort(input_bytes=2500, output_bytes=1500, layers=3)


def test_info_and_chunked_infer(fake):
    link = Link(fake, timeout=0.5)
    info = link.info()
    assert (info.board, info.counter, info.input_bytes, info.input_zero_point) == ("fake", "dwt_cycles", 2500, -1)
    x = bytes(i % 251 for i in range(2500))
    r = link.infer(x)
    assert r.output == fake.output() and len(r.output) == 1500
    assert (r.total_count, r.layer_counts, r.counter) == (1000, [100, 101, 102], "dwt_cycles")
    assert fake.blocks == [(0, 1024), (64, 1024), (128, 452)]  # block frames of 1 KB, no replies
    assert [f.type for f in fake.requests] == [0x01, 0x08, 0x04, 0x04]  # info, one RUN, output in 2 pieces
    assert link.layer_names() == ["layer0", "layer1", "layer2"]


def test_sequence_numbers_advance(fake):
    link = Link(fake, timeout=0.5)
    for _ in range(300):  # wraps around 254
        link.info()
    seqs = [f.seq for f in fake.requests]
    # 0 and 255 are left out: a damage report's unknown seq and a fault's
    assert len(set(seqs[:254])) == 254 and all(1 <= s <= 254 for s in seqs)


@pytest.mark.parametrize("fault", ["drop", "corrupt", "stale", "noise"])
def test_link_recovers_from_a_bad_reply(fake, fault):
    link = Link(fake, timeout=0.3)
    link.info()
    fake.faults = [fault]
    assert link.info().board == "fake"
    assert link.stats["retries"] == (0 if fault == "stale" else 1)


def test_a_lost_first_run_reply_waits_a_second_not_infer_timeout(fake, monkeypatch):
    """Before any run, its length is unknown: silent attempts wait 1 s, 2 s, ... (not 300 s each)."""
    waits = []
    await_reply = Link._await_reply

    def spy(self, type_, tried, wait, sent=0):
        waits.append((type_, wait))
        return await_reply(self, type_, tried, wait, sent)

    monkeypatch.setattr(Link, "_await_reply", spy)
    link = Link(fake, timeout=0.3, infer_timeout=300)
    link.info()
    fake.faults = ["drop"]  # the first RUN's reply
    x = bytes(i % 7 for i in range(2500))
    assert link.infer(x).output == fake.output()
    runs = [w for t, w in waits if t == 0x08]
    assert len(runs) == 2 and 1.0 < runs[0] < 2.0 and runs[1] == pytest.approx(2.0)
    assert link.stats["timeouts"] == 1


def test_link_gives_up_with_a_clear_error(fake):
    link = Link(fake, timeout=0.1, retries=2)
    fake.faults = ["drop"] * 3
    with pytest.raises(LinkError, match="after 3 attempts: no reply"):
        link.info()


def test_device_errors_are_not_retried(fake):
    link = Link(fake, timeout=0.3)
    with pytest.raises(DeviceError, match="bad arguments"):
        link.request(0x02, struct.pack("<I", 2490) + bytes(20))
    with pytest.raises(DeviceError, match="unknown command"):
        link.request(0x42)
    assert link.stats["retries"] == 0


def test_wrong_input_size_is_refused_before_sending(fake):
    link = Link(fake, timeout=0.3)
    with pytest.raises(LinkError, match="input has 3 bytes"):
        link.infer(b"abc")


def test_only_the_blocks_reported_missing_are_sent_again(fake):
    link = Link(fake, timeout=0.5)
    link.info()
    fake.lose_blocks = {64}
    x = bytes(i % 13 for i in range(2500))
    assert link.infer(x).output == fake.output()
    # RUN names missing blocks 32 at a time: the lost KB comes again in two rounds of 512 bytes
    assert fake.blocks == [(0, 1024), (128, 452), (64, 512), (96, 512)]
    assert [f.type for f in fake.requests][:4] == [0x01, 0x08, 0x08, 0x08] and link.stats["rounds"] == 2
