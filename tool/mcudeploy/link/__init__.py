"""The host side of the firmware link: framing (COBS + CRC-32) and the protocol over a pyserial URL.

    >>> from mcudeploy.link import Link
    >>> with Link.open("socket://127.0.0.1:4321") as link:
    ...     info = link.info()
    ...     result = link.infer(input_bytes)
"""

from .framing import Frame, FrameError, decode, encode
from .protocol import InferResult, Info, Link

__all__ = ["Frame", "FrameError", "InferResult", "Info", "Link", "decode", "encode"]
