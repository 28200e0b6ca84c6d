"""Host side of the firmware protocol, over any pyserial URL.

    >>> with Link.open("socket://127.0.0.1:4321") as link:      # QEMU; or "/dev/ttyACM0", "loop://"
    ...     info = link.info()                                 # Info(board='nucleo-f446re', ...)
    ...     r = link.infer(x_bytes)                            # set_input (chunked) + infer
    ...     r.output, r.total_count, r.layer_counts, r.counter
    (b'...', 10484, [5120, 5300], 'emulated_instructions')

Every request carries a new sequence number and the reply must echo it; a reply with another
number is a stale one (from a retried request) and is skipped. A lost, corrupted or timed-out
exchange is retried after a resync (a lone delimiter), up to ``retries`` times; all requests are
idempotent, so retrying is safe. ``infer`` also checks the CRC of the input the device actually
used and, if it differs, sends the input again and re-runs: a run can be resumed after a hiccup.
Message layouts are documented once, in firmware_template/src/protocol.h.
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass, field
from typing import Self

import serial

from ..errors import LinkError
from .framing import MAX_PAYLOAD, Frame, FrameError, decode, encode

INFO, SET_INPUT, INFER, GET_OUTPUT, LAYER_NAME, CALIBRATE = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
ERROR, REPLY = 0x7F, 0x80
ERR_CRC, ERR_LENGTH, ERR_COBS, ERR_VERSION, ERR_COMMAND, ERR_ARGS, ERR_FAULT = range(1, 8)
_ERR_NAMES = {ERR_CRC: "CRC mismatch", ERR_LENGTH: "bad frame length", ERR_COBS: "bad COBS encoding",
              ERR_VERSION: "protocol version mismatch", ERR_COMMAND: "unknown command",
              ERR_ARGS: "bad arguments", ERR_FAULT: "firmware fault"}
_TRANSPORT_ERRORS = (ERR_CRC, ERR_LENGTH, ERR_COBS)  # the request was damaged on the way: retry
_INFO = struct.Struct("<BBHIIIIHHHHfifiIII")
_INFER = struct.Struct("<QIIHH")


class DeviceError(LinkError):
    """The device answered with an error frame that retrying cannot fix."""

    def __init__(self, code: int, arg0: int, arg1: int, request: int):
        self.code, self.arg0, self.arg1 = code, arg0, arg1
        super().__init__(f"device error on request 0x{request:02x}: {_ERR_NAMES.get(code, code)} "
                         f"(arg0={arg0}, arg1={arg1})")


@dataclass(frozen=True)
class Info:
    protocol_version: int
    emulated: bool
    max_payload: int
    model_hash: int
    clock_hz: int  # the clock the firmware configured; under QEMU nominal only (not modelled)
    input_bytes: int
    output_bytes: int
    input_shape: tuple[int, int, int]  # H, W, C of the device (HWC) layout
    num_layers: int
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    arena_bytes: int
    stack_bytes: int  # the stack region: RAM above .bss
    stack_high_water: int  # bytes of it ever used since reset
    board: str
    counter: str  # "dwt_cycles", "systick_cycles" or "emulated_instructions"


@dataclass(frozen=True)
class InferResult:
    output: bytes
    total_count: int  # whole mcd_model_run call, in units of `counter`
    layer_counts: list[int]  # per layer (hook i to i + 1); sum <= total_count
    counter: str
    stack_high_water: int = 0
    extra: dict = field(default_factory=dict)


class Link:
    """One open connection to a device speaking the mcudeploy protocol."""

    def __init__(self, port: serial.SerialBase, timeout: float = 5.0, infer_timeout: float = 300.0,
                 retries: int = 3):
        self.port = port
        self.timeout, self.infer_timeout, self.retries = timeout, infer_timeout, retries
        self._seq = 0
        self._rx = bytearray()
        self._info: Info | None = None
        self.stats = {"retries": 0, "stale": 0, "bad_frames": 0}

    @classmethod
    def open(cls, url: str, baudrate: int = 115200, **kwargs) -> Link:
        try:
            port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.05)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkError(f"cannot open {url}: {exc}") from None
        return cls(port, **kwargs)

    def close(self) -> None:
        self.port.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- commands -----------------------------------------------------------------------------
    def info(self) -> Info:
        p = self.request(INFO)
        fixed = list(_INFO.unpack_from(p))
        rest = p[_INFO.size:]
        board, rest = _string(rest)
        counter, _ = _string(rest)
        (ver, flags, maxp, mhash, clk, nin, nout, h, w, c, nl, isc, izp, osc, ozp, arena, stack,
         hw) = fixed
        self._info = Info(ver, bool(flags & 1), maxp, mhash, clk, nin, nout, (h, w, c), nl, isc, izp,
                          osc, ozp, arena, stack, hw, board, counter)
        return self._info

    def set_input(self, data: bytes, chunk: int | None = None) -> None:
        """Send the input tensor in chunks of at most ``chunk`` bytes (default: what fits a frame)."""
        info = self._info or self.info()
        if len(data) != info.input_bytes:
            raise LinkError(f"input has {len(data)} bytes, the model takes {info.input_bytes}")
        step = chunk or (info.max_payload - 4)
        for off in range(0, len(data), step):
            part = data[off:off + step]
            got = self.request(SET_INPUT, struct.pack("<I", off) + part)
            if struct.unpack("<II", got) != (off, len(part)):
                raise LinkError(f"device acknowledged {struct.unpack('<II', got)} for ({off}, {len(part)})")

    def infer(self, data: bytes | None = None) -> InferResult:
        """Run one inference (on ``data`` if given, else on the input already sent)."""
        info = self._info or self.info()
        for attempt in range(2):
            if data is not None:
                self.set_input(data)
            p = self.request(INFER, timeout=self.infer_timeout)
            total, in_crc, hw, nl, nout = _INFER.unpack_from(p)
            if data is None or in_crc == zlib.crc32(data):
                break
            self.stats["retries"] += 1  # the device ran on another input: send it again, re-run
        else:
            raise LinkError("the device keeps running on an input other than the one sent")
        off = _INFER.size
        layers = list(struct.unpack_from(f"<{nl}I", p, off))
        out = p[off + 4 * nl:]
        if nout == 0 and info.output_bytes:
            out = self.get_output(0, info.output_bytes)
        return InferResult(bytes(out), total, layers, info.counter, hw)

    def get_output(self, offset: int, n: int) -> bytes:
        step = (self._info.max_payload if self._info else MAX_PAYLOAD)
        return b"".join(self.request(GET_OUTPUT, struct.pack("<IH", o, min(step, offset + n - o)))
                        for o in range(offset, offset + n, step))

    def layer_names(self) -> list[str]:
        info = self._info or self.info()
        return [self.request(LAYER_NAME, struct.pack("<H", i)).decode() for i in range(info.num_layers)]

    def calibrate(self, iterations: int) -> int:
        """Count of a loop of exactly 2 instructions per iteration (in the counter's unit)."""
        (n,) = struct.unpack("<Q", self.request(CALIBRATE, struct.pack("<I", iterations)))
        return n

    # --- transport ----------------------------------------------------------------------------
    def request(self, type_: int, payload: bytes = b"", timeout: float | None = None) -> bytes:
        """Send one request and return the payload of its reply, retrying transport failures."""
        last = "no reply"
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats["retries"] += 1
                self._resync()
            self._seq = (self._seq + 1) & 0xFF
            self.port.write(encode(Frame(self._seq, type_, payload)))
            self.port.flush()
            deadline = time.monotonic() + (timeout or self.timeout)
            while True:
                try:
                    f = self._read_frame(deadline)
                except FrameError as exc:
                    self.stats["bad_frames"] += 1
                    last = f"bad reply frame: {exc}"
                    break
                if f is None:
                    last = f"no reply within {timeout or self.timeout:.1f} s"
                    break
                if f.type == ERROR:
                    code, a0, a1 = struct.unpack_from("<BII", f.payload.ljust(9, b"\0"))
                    if code in _TRANSPORT_ERRORS:
                        last = f"device saw a damaged request: {_ERR_NAMES[code]}"
                        break
                    if f.seq == self._seq or code == ERR_FAULT:
                        raise DeviceError(code, a0, a1, type_)
                if f.seq != self._seq:
                    self.stats["stale"] += 1
                    continue
                if f.type != (type_ | REPLY):
                    raise LinkError(f"reply type 0x{f.type:02x} to request 0x{type_:02x}")
                return f.payload
        raise LinkError(f"request 0x{type_:02x} failed after {self.retries + 1} attempts: {last} "
                        f"(port {self.port.name or self.port.portstr})")

    def _read_frame(self, deadline: float) -> Frame | None:
        """The next non-empty frame, or None at the deadline. Raises FrameError for a bad one."""
        while True:
            end = self._rx.find(0)
            if end >= 0:
                raw = bytes(self._rx[:end])
                del self._rx[:end + 1]
                if raw:
                    return decode(raw)
                continue
            if time.monotonic() > deadline:
                return None
            try:
                chunk = self.port.read(max(1, self.port.in_waiting))
            except (serial.SerialException, OSError) as exc:
                raise LinkError(f"serial port failed: {exc}") from None
            self._rx += chunk
            if len(self._rx) > 1 << 20:  # a device streaming garbage with no delimiter
                self._rx.clear()

    def _resync(self) -> None:
        """Drop what is buffered and end any half-received frame on the device."""
        time.sleep(0.05)
        self._rx.clear()
        self.port.reset_input_buffer()
        self.port.write(b"\x00")


def _string(b: bytes) -> tuple[str, bytes]:
    n = b[0]
    return b[1:1 + n].decode(), b[1 + n:]
