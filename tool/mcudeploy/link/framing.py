"""Link frames: COBS-delimited, CRC-32 checked, versioned, sequenced, bounded.

    >>> wire = encode(Frame(seq=7, type=0x01, payload=b""))
    >>> decode(wire[:-1])                       # without the 0x00 delimiter
    Frame(seq=7, type=1, payload=b'', version=2)

On the wire a frame is ``COBS(body) + b"\\x00"`` with
``body = version | seq | type | payload | crc32(LE)``, and ``crc32 = zlib.crc32`` of everything
before it. COBS removes every zero byte from the body, so a zero always ends a frame: a receiver
that lost sync (noise, a half-sent frame, a reset board) is back in step at the next zero.
The firmware twin is firmware_template/src/frame.c.

Input block frames (version 2) carry input bytes with less overhead and no reply:
``body = (0xB0 | tag) | block (u16 LE) | data | crc16`` where crc16 is the low half of the
CRC-32 of what precedes it (see link/protocol.py and firmware_template/src/protocol.h).

    >>> decode_block(encode_block(3, 5, b"x" * 16)[:-1])
    (3, 5, b'xxxxxxxxxxxxxxxx')
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

VERSION = 2
BLOCK_MARK = 0xB0  # first body byte of a block frame, ORed with a 4-bit tag
BLOCK_BYTES = 16  # the unit a block frame's index counts
BLOCK_OVERHEAD = 5  # marker, block index, crc16 (plus COBS and the delimiter on the wire)
MAX_PAYLOAD = 1024
OVERHEAD = 7  # version, seq, type, crc32
MAX_BODY = MAX_PAYLOAD + OVERHEAD
MAX_ENCODED = MAX_BODY + MAX_BODY // 254 + 2


class FrameError(ValueError):
    """A received frame is malformed: bad COBS, too short or long, CRC or version mismatch."""


@dataclass(frozen=True)
class Frame:
    seq: int
    type: int
    payload: bytes
    version: int = VERSION


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing (Cheshire & Baker): no zero byte in the output."""
    out = bytearray()
    block = bytearray()
    for b in data:
        if b == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(b)
            if len(block) == 254:
                out.append(0xFF)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0 or i + code > len(data):
            raise FrameError(f"bad COBS code {code} at byte {i} of {len(data)}")
        out += data[i + 1:i + code]
        i += code
        if code != 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def encode(frame: Frame) -> bytes:
    """A frame as it goes on the wire, delimiter included."""
    if len(frame.payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(frame.payload)} bytes exceeds {MAX_PAYLOAD}")
    body = bytes([frame.version, frame.seq & 0xFF, frame.type & 0xFF]) + bytes(frame.payload)
    body += struct.pack("<I", zlib.crc32(body))
    return cobs_encode(body) + b"\x00"


def decode(wire: bytes) -> Frame:
    """Decode one frame (the bytes between two delimiters). Raises FrameError."""
    if len(wire) > MAX_ENCODED:
        raise FrameError(f"frame of {len(wire)} encoded bytes exceeds {MAX_ENCODED}")
    body = cobs_decode(wire)
    if len(body) < OVERHEAD:
        raise FrameError(f"frame of {len(body)} bytes is shorter than its {OVERHEAD}-byte header+crc")
    if len(body) > MAX_BODY:  # the encoded bound leaves COBS slack: bound the payload itself
        raise FrameError(f"payload of {len(body) - OVERHEAD} bytes exceeds {MAX_PAYLOAD}")
    (crc,) = struct.unpack("<I", body[-4:])
    if zlib.crc32(body[:-4]) != crc:
        raise FrameError("CRC mismatch")
    if body[0] != VERSION:
        raise FrameError(f"protocol version {body[0]}, expected {VERSION}")
    return Frame(seq=body[1], type=body[2], payload=body[3:-4], version=body[0])


def encode_block(tag: int, block: int, data: bytes) -> bytes:
    """An input block frame as it goes on the wire, one delimiter included."""
    body = struct.pack("<BH", BLOCK_MARK | (tag & 0x0F), block) + bytes(data)
    return cobs_encode(body + struct.pack("<H", zlib.crc32(body) & 0xFFFF)) + b"\x00"


def decode_block(wire: bytes) -> tuple[int, int, bytes]:
    """(tag, block, data) of a block frame (without its delimiter). Raises FrameError."""
    body = cobs_decode(wire)
    if len(body) <= BLOCK_OVERHEAD or body[0] & 0xF0 != BLOCK_MARK:
        raise FrameError("not a block frame")
    if zlib.crc32(body[:-2]) & 0xFFFF != struct.unpack("<H", body[-2:])[0]:
        raise FrameError("CRC mismatch")
    return body[0] & 0x0F, struct.unpack_from("<H", body, 1)[0], body[3:-2]
