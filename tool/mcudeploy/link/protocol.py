"""Host side of the firmware protocol, over any pyserial URL.

    >>> with Link.open("socket://127.0.0.1:4321") as link:      # QEMU; or "/dev/ttyACM0", "loop://"
    ...     info = link.info()                                 # Info(board='nucleo-f446re', ...)
    ...     r = link.infer(x_bytes)                            # set_input (chunked) + infer
    ...     r.output, r.total_count, r.layer_counts, r.counter
    (b'...', 10484, [5120, 5300], 'emulated_instructions')
    >>> link.stats                                             # what the link survived
    {'retries': 0, 'stale': 0, 'bad_frames': 0, 'timeouts': 0, 'reconnects': 0, 'resets': 0, ...}

How it survives a bad line (a USB virtual COM port that drops bytes, a board that resets, a cable
pulled out), in the order the failures are met:

* Every request carries a new sequence number and the reply must echo it; a valid frame with
  another number is a stale reply (to an attempt already given up on) and is skipped.
* A damaged exchange (the device answers "your frame was damaged", or the reply fails its CRC)
  is retried at once (a damage report counts only if the damaged frame's length, which it
  carries, is within 2 bytes of the request's: those about input block frames sent just before
  are ignored; sequence numbers run 1..254, since a report's own seq is a guess, 0 when unknown), after a resync: the host drops its half-received bytes and sends a lone
  delimiter, which ends any half frame the device holds. All requests are idempotent (set_input
  writes the same bytes at the same offset; infer re-runs on the same input), so a retry is safe.
* Frames end with two delimiters, not one: the second is an empty frame both sides ignore, but
  if a dropped byte was the first delimiter, the frame still ends, and a lost delimiter costs a
  CRC retry instead of a timeout.
* A lost exchange ends at the per-frame timeout: ``timeout`` plus twice the wire time of the
  longest frame at ``baudrate``. For ``infer`` the first run may take up to ``infer_timeout``
  (its silent attempts wait 1 s, 2 s, 4 s, ... up to that, so a lost first reply costs a second);
  afterwards five times the slowest successful attempt seen (at least ``timeout``; an attempt,
  not a request with its retries, which on a bad line grew the deadline to tens of seconds), plus
  1.5 times the wire time at ``baudrate`` of a block burst sent ahead of it. A lost reply thus
  costs ~0.25 s, not the 1 s floor this had, which at 3% damage was a third of the run time.
* ``infer(data)`` sends the input as input block frames (framing.py: 7 bytes of overhead, no
  reply) back to back, then asks RUN (tag, CRC-32 of the input). The device answers with the
  result, or with the missing 16-byte blocks (a bitmap of a 32-block window), and only those are
  sent again: selective repeat, one round trip per round instead of one per chunk. The device
  runs the model once per input and resends the cached result when RUN is repeated, so a damaged
  result costs a resend, not an inference. Why: under QEMU (and on a VCP) a byte to the device
  costs ~0.1-0.2 ms and a round trip ~1-3 ms, so at 1% damage the time went into bytes resent and
  exchanges that waited for acknowledgements one chunk at a time.
* Block frames adapt to the line (link/chunking.py): on a clean line one frame carries up to 1 KB;
  on a line that damages 1% of bytes, a 1 KB frame would almost never arrive whole
  (0.99^1030 = 3e-5) while a 32-byte one mostly does. The loss estimate comes from which blocks
  RUN reports missing. (``set_input``, the acknowledged chunk per exchange, is kept for callers
  that set the input alone and ``infer(None)``.)
* The device repairs a block frame with one flipped bit (firmware frame.c: the CRC-16 syndrome
  names the bit), so at 1% damage ~40% fewer block frames are resent.
* On ``socket://`` ports (QEMU, ser2net) Nagle's algorithm is turned off: with it, a request
  written after a block burst waited for the peer's delayed ACK, ~40 ms an exchange.
* A device that answers, even with damage, is alive: such attempts get PATIENCE (16) times the
  retry budget of silent ones (no reply at all), so a line that damages 3% of bytes, where an
  80-byte result arrives whole only ~9% of the time, is ridden out instead of given up on.
* The port failing (socket closed, device unplugged) is followed by reopening the same URL for up
  to ``reconnect_timeout`` seconds (a VCP re-enumerating, an emulator restarting), a new handshake
  (``info``), and a check that the device still runs the same model; then the request is retried.
* A device that reset lost its input: RUN finds none of the tag's blocks and the whole input is
  sent again; ``infer`` also compares the CRC of the input the device actually ran on (echoed in
  every result) with what was sent, and on a mismatch re-handshakes, sends the input again and
  re-runs. Results are therefore never taken from an input other than the one sent.

Message layouts are documented once, in firmware_template/src/protocol.h.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
import zlib
from dataclasses import dataclass, field
from typing import Self

import serial

from ..errors import LinkError
from .chunking import SIZES, ChunkSizer
from .framing import (
    BLOCK_BYTES,
    BLOCK_OVERHEAD,
    MAX_ENCODED,
    MAX_PAYLOAD,
    Frame,
    FrameError,
    decode,
    encode,
    encode_block,
)

INFO, SET_INPUT, INFER, GET_OUTPUT, LAYER_NAME, CALIBRATE, RUN = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x08
LAYER_CRC, LAYER_OUTPUT = 0x09, 0x0A
TAP_BYTES = 256  # the most LAYER_OUTPUT sends at once (protocol.c, MCD_TAP_BYTES)
ERROR, REPLY = 0x7F, 0x80
ERR_CRC, ERR_LENGTH, ERR_COBS, ERR_VERSION, ERR_COMMAND, ERR_ARGS, ERR_FAULT, ERR_INCOMPLETE = range(1, 9)
_ERR_NAMES = {ERR_CRC: "CRC mismatch", ERR_LENGTH: "bad frame length", ERR_COBS: "bad COBS encoding",
              ERR_VERSION: "protocol version mismatch", ERR_COMMAND: "unknown command",
              ERR_ARGS: "bad arguments", ERR_FAULT: "firmware fault", ERR_INCOMPLETE: "input incomplete"}
REPLY_SLACK = 3  # a request's wait: at least this many times the last default-wait request's reply time
PATIENCE = 16  # a device that answers, if damaged, gets this many times the retries of a silent one
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

    def __init__(self, port: serial.SerialBase, timeout: float = 0.25, infer_timeout: float = 300.0,
                 retries: int = 32, baudrate: int = 115200, url: str | None = None,
                 reconnect_timeout: float = 10.0):
        self.port, self.url, self.baudrate = port, url, baudrate
        self.timeout, self.infer_timeout, self.retries = timeout, infer_timeout, retries
        self.reconnect_timeout = reconnect_timeout
        self._seq = 0
        self._rx = bytearray()
        self._info: Info | None = None
        self._sizer: ChunkSizer | None = None  # set_input chunk size (adapts to the line's error rate)
        self._blocks = ChunkSizer(largest=1024, overhead=BLOCK_OVERHEAD + 2, latency_bytes=0)  # block frames
        self._tag = 0
        self._slowest_infer = 0.0  # seconds, the slowest INFER/RUN attempt seen
        self.last_attempt_s = 0.0  # seconds, the successful attempt of the last request
        # seconds, how long the last request on the default wait took to be answered: a device slower
        # than that wait (an emulator on a loaded machine) gets REPLY_SLACK times it per attempt, so
        # its retries do not pile up in its input faster than it answers them
        self._reply_s = 0.0
        self._handshaking = False
        self._need_handshake = False
        self.stats = {"retries": 0, "stale": 0, "bad_frames": 0, "timeouts": 0, "reconnects": 0,
                      "resets": 0, "bytes_out": 0, "bytes_in": 0, "rounds": 0, "resent_bytes": 0}

    @classmethod
    def open(cls, url: str, baudrate: int = 115200, **kwargs) -> Link:
        """Open any pyserial URL: a device path, ``socket://HOST:PORT``, ``rfc2217://HOST:PORT``."""
        return cls(_open_port(url, baudrate), baudrate=baudrate, url=url, **kwargs)

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
        info = Info(ver, bool(flags & 1), maxp, mhash, clk, nin, nout, (h, w, c), nl, isc, izp,
                    osc, ozp, arena, stack, hw, board, counter)
        if self._info is not None and info.model_hash != self._info.model_hash:
            raise LinkError(f"the device now runs model {info.model_hash:#010x}, not "
                            f"{self._info.model_hash:#010x}: it was reflashed during the run")
        self._info = info
        return info

    def set_input(self, data: bytes, chunk: int | None = None) -> None:
        """Send the input tensor in chunks of at most ``chunk`` bytes (default: adaptive, see above)."""
        info = self._info or self.info()
        if len(data) != info.input_bytes:
            raise LinkError(f"input has {len(data)} bytes, the model takes {info.input_bytes}")
        largest = info.max_payload - 4
        if self._sizer is None or self._sizer.largest != largest:
            self._sizer = ChunkSizer(largest)
        off, cap = 0, largest  # cap: halved each time a chunk at `off` fails twice
        while off < len(data):
            step = chunk or min(self._sizer.size(), cap)
            part = data[off:off + step]
            # A chunk larger than the smallest gets two attempts, then at most half its size is
            # tried; only the smallest size spends the whole retry budget.
            small = bool(chunk) or step <= SIZES[0]
            budget = self.retries if small else 1
            before = self.stats["retries"]
            try:
                got = self.request(SET_INPUT, struct.pack("<I", off) + part, retries=budget)
            except RetriesExhausted:
                for _ in range(budget + 1):
                    self._sizer.observe(len(part) + 40, ok=False)
                if small:
                    raise
                self.stats["retries"] += 1
                cap = max(SIZES[0], step // 2)
                continue
            for _ in range(self.stats["retries"] - before):
                self._sizer.observe(len(part) + 40, ok=False)
            self._sizer.observe(len(part) + 40, ok=True)
            if struct.unpack("<II", got) != (off, len(part)):
                raise LinkError(f"device acknowledged {struct.unpack('<II', got)} for ({off}, {len(part)})")
            off, cap = off + len(part), largest

    def send_and_run(self, data: bytes) -> bytes:
        """Send ``data`` as block frames, resending only what RUN reports missing; returns RUN's
        reply (the INFER layout). See the docstring above and firmware_template/src/protocol.h."""
        info = self._info or self.info()
        if len(data) != info.input_bytes:
            raise LinkError(f"input has {len(data)} bytes, the model takes {info.input_bytes}")
        self._tag = (self._tag + 1) & 0x0F
        nblocks = -(-len(data) // BLOCK_BYTES)
        ask = struct.pack("<BI", self._tag, zlib.crc32(data))
        todo = list(range(nblocks))
        for rnd in range(self.retries * PATIENCE):
            chunks, burst = self._block_burst(data, todo, resend=rnd > 0)
            try:  # one write: the burst, a delimiter ending it, RUN
                p = self.request(RUN, ask, timeout=self._infer_deadline(), lead=burst + b"\x00",
                                 lead_time=1.5 * len(burst) * 10 / self.baudrate, doubling=self._unknown_run())
            except DeviceError as exc:
                if exc.code != ERR_INCOMPLETE:
                    raise
                self.stats["rounds"] += 1
                first, window = exc.arg0, exc.arg1
                missing = {first + i for i in range(32) if window >> i & 1 and first + i < nblocks}
                for b0, n, nbytes in chunks:  # what the window says about the chunks just sent
                    if b0 + n <= first + 32:
                        self._blocks.observe(nbytes, ok=not missing.intersection(range(b0, b0 + n)))
                todo = sorted(missing)
                continue
            self._slowest_infer = max(self._slowest_infer, self.last_attempt_s)  # one attempt, not its retries
            return p
        raise RetriesExhausted(f"the input did not get through in {self.retries * PATIENCE} rounds "
                               f"(port {self.url or self.port.name or self.port.portstr})")

    def _block_burst(self, data: bytes, blocks: list[int], resend: bool) -> tuple[list[tuple[int, int, int]], bytes]:
        """``blocks`` (ascending) as block frames back to back, in runs of consecutive blocks no
        longer than the block sizer's chunk: ((first block, blocks, wire bytes) per frame, the wire)."""
        per = max(1, self._blocks.size() // BLOCK_BYTES)
        frames, chunks, i = [], [], 0
        while i < len(blocks):
            j = i + 1
            while j < len(blocks) and j - i < per and blocks[j] == blocks[j - 1] + 1:
                j += 1
            b0, n = blocks[i], j - i
            wire = encode_block(self._tag, b0, data[b0 * BLOCK_BYTES:(b0 + n) * BLOCK_BYTES])
            frames.append(wire)
            chunks.append((b0, n, len(wire)))
            i = j
        out = b"".join(frames)
        if resend:
            self.stats["resent_bytes"] += len(out)
        return chunks, out

    def infer(self, data: bytes | None = None) -> InferResult:
        """Run one inference (on ``data`` if given, else on the input already sent)."""
        info = self._info or self.info()
        for _attempt in range(3):
            if data is not None:
                p = self.send_and_run(data)
            else:
                p = self.request(INFER, timeout=self._infer_deadline(), doubling=self._unknown_run())
                self._slowest_infer = max(self._slowest_infer, self.last_attempt_s)
            total, in_crc, hw, nl, nout = _INFER.unpack_from(p)
            if data is None or in_crc == zlib.crc32(data):
                break
            # The device ran on another input: it reset (and lost what was sent) since set_input.
            self.stats["resets"] += 1
            info = self.info()  # the handshake again: same model?
        else:
            raise LinkError("the device keeps running on an input other than the one sent")
        off = _INFER.size
        layers = list(struct.unpack_from(f"<{nl}I", p, off))
        out = p[off + 4 * nl:]
        if nout == 0 and info.output_bytes:
            out = self.get_output(0, info.output_bytes)
        return InferResult(bytes(out), total, layers, info.counter, hw)

    def _unknown_run(self) -> float | None:
        """Before any run was seen, how long it takes is unknown (up to ``infer_timeout``): silent
        attempts then wait 1 s, 2 s, 4 s, ... up to that. A lost request or reply in the first
        sample on a damaged line thus costs about a second, not ``infer_timeout`` (5 minutes)."""
        return 1.0 if self._slowest_infer == 0.0 else None

    def _infer_deadline(self) -> float:
        if self._slowest_infer == 0.0:
            return self.infer_timeout
        return min(self.infer_timeout, max(self.timeout, 5 * self._slowest_infer))

    def get_output(self, offset: int, n: int) -> bytes:
        step = (self._info.max_payload if self._info else MAX_PAYLOAD)
        return b"".join(self.request(GET_OUTPUT, struct.pack("<IH", o, min(step, offset + n - o)))
                        for o in range(offset, offset + n, step))

    def layer_names(self) -> list[str]:
        info = self._info or self.info()
        return [self.request(LAYER_NAME, struct.pack("<H", i)).decode() for i in range(info.num_layers)]

    def layer_crcs(self, input_crc: int | None = None) -> list[int]:
        """CRC-32 of every layer's output for the input the device holds (one rerun per page of
        CRCs). ``input_crc`` (zlib.crc32 of the input sent) is checked against the device's: a
        device that reset since holds another input, and its layers would mean nothing."""
        info = self._info or self.info()
        crcs: list[int] = []
        while len(crcs) < info.num_layers:
            p = self.request(LAYER_CRC, struct.pack("<H", len(crcs)), timeout=self._infer_deadline())
            in_crc, _layers, first, count = struct.unpack_from("<IHHH", p)
            if input_crc is not None and in_crc != input_crc:
                raise LinkError("the device holds another input than the one sent (it reset?): send it again")
            if first != len(crcs) or count == 0:
                raise LinkError(f"LAYER_CRC answered layers {first}.. for a request from {len(crcs)}")
            crcs += struct.unpack_from(f"<{count}I", p, 10)
        return crcs

    def layer_output(self, layer: int, nbytes: int) -> bytes:
        """The ``nbytes`` of layer ``layer``'s output for the input the device holds, TAP_BYTES
        per request (each reruns the model on the device)."""
        return b"".join(self.request(LAYER_OUTPUT, struct.pack("<HIH", layer, o, min(TAP_BYTES, nbytes - o)),
                                     timeout=self._infer_deadline())
                        for o in range(0, nbytes, TAP_BYTES))

    def calibrate(self, iterations: int) -> int:
        """Count of a loop of exactly 2 instructions per iteration (in the counter's unit)."""
        (n,) = struct.unpack("<Q", self.request(CALIBRATE, struct.pack("<I", iterations)))
        return n

    # --- transport ----------------------------------------------------------------------------
    def frame_timeout(self, request_bytes: int) -> float:
        """Seconds to wait for a reply: the base timeout plus twice the wire time of both frames
        (10 bits a byte at 8N1; the longest reply is assumed, since its length is not known)."""
        return self.timeout + 2 * (request_bytes + MAX_ENCODED + 2) * 10 / self.baudrate

    def request(self, type_: int, payload: bytes = b"", timeout: float | None = None,
                retries: int | None = None, lead: bytes = b"", lead_time: float = 0.0,
                doubling: float | None = None) -> bytes:
        """Send one request and return the payload of its reply, retrying transport failures
        (``retries`` silent attempts, default ``self.retries``, then ``RetriesExhausted``; with
        the default, attempts the device answered, if damaged, count 1/PATIENCE of one).
        ``lead`` goes on the wire before the first attempt, in the same write (a block burst and a
        delimiter ending it); ``lead_time`` seconds are added to the first attempt's wait for it
        (and taken off ``last_attempt_s``, which thus measures the device, not the burst). With
        ``doubling``, silent attempts wait ``doubling`` seconds, then twice as long each time, up
        to ``timeout``."""
        silent_budget = self.retries if retries is None else retries
        budget = silent_budget * PATIENCE if retries is None else silent_budget
        if self._need_handshake and not self._handshaking:
            self._handshake()
        last = "no reply"
        tried: dict[int, float] = {}  # sequence numbers of this request's attempts -> when each was sent
        attempt = silent = 0
        while attempt <= budget and silent <= silent_budget:
            if attempt:
                self.stats["retries"] += 1
                self._resync()
            attempt += 1
            self._seq = self._seq % 254 + 1  # 1..254: 0 = a damage report's unknown seq, 255 = a fault's
            tried[self._seq] = time.monotonic()
            wire = encode(Frame(self._seq, type_, payload)) + b"\x00"  # 2nd delimiter: see above
            wait = timeout or max(self.frame_timeout(len(wire)), REPLY_SLACK * self._reply_s)
            if doubling is not None:
                wait = min(wait, doubling * 2 ** min(silent, 30))
            wait += lead_time if attempt == 1 else 0.0
            t0 = time.monotonic()
            try:
                self._write(lead + wire if attempt == 1 else wire)
                f = self._await_reply(type_, tried, wait, len(wire) - 2)
            except _PortLost as exc:
                last = f"the port failed: {exc}"
                silent += 1
                self._reopen(exc)
                continue
            except FrameError as exc:
                self.stats["bad_frames"] += 1
                last = f"bad reply frame: {exc}"
                continue
            if isinstance(f, str):
                last = f
                silent += f.startswith("no reply")
                continue
            if self._need_handshake and not self._handshaking:
                self._handshake()  # the port came back during this request: same device, same model?
            t0 = tried.get(f.seq, t0)  # an earlier attempt's reply: timed from that attempt
            first = f.seq == next(iter(tried))
            self.last_attempt_s = max(0.0, time.monotonic() - t0 - (lead_time if first else 0.0))
            if timeout is None:
                self._reply_s = self.last_attempt_s
            return f.payload
        raise RetriesExhausted(f"request 0x{type_:02x} failed after {attempt} attempts: {last} "
                        f"(port {self.url or self.port.name or self.port.portstr})")

    def _await_reply(self, type_: int, tried: dict[int, float], wait: float, sent: int = 0) -> Frame | str:
        """The reply to the current attempt (``sent`` wire bytes before its delimiter), or to an
        earlier attempt of the same request, or a string saying why this attempt failed.

        An earlier attempt's reply is the same request's answer, late: a device slower than the
        per-attempt wait (the virtual board with its flash model on a loaded machine took 0.54 s for
        ``info`` against a 0.43 s wait) answered each attempt just after the next one was sent, and
        skipping those replies as stale failed a working device after 33 attempts. Not once the
        sequence numbers wrapped (254 attempts), when one could be a previous request's."""
        deadline = time.monotonic() + wait
        while True:
            f = self._read_frame(deadline)
            if f is None:
                self.stats["timeouts"] += 1
                return f"no reply within {wait:.2f} s"
            if f.type == ERROR:
                code, a0, a1 = struct.unpack_from("<BII", f.payload.ljust(9, b"\0"))
                if code in _TRANSPORT_ERRORS:
                    if f.seq in tried and f.seq != self._seq or not _could_be(a0, sent):
                        self.stats["stale"] += 1  # about an attempt already retried, or another frame
                        continue
                    return f"device saw a damaged request: {_ERR_NAMES[code]}"
                if f.seq == self._seq or code == ERR_FAULT:
                    raise DeviceError(code, a0, a1, type_)
            late = f.seq in tried and f.type == (type_ | REPLY) and len(tried) < 254
            if f.seq != self._seq and not late:
                self.stats["stale"] += 1
                continue
            if f.type != (type_ | REPLY):
                raise LinkError(f"reply type 0x{f.type:02x} to request 0x{type_:02x}")
            return f

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
                raise _PortLost(str(exc)) from None
            self.stats["bytes_in"] += len(chunk)
            self._rx += chunk
            if len(self._rx) > 1 << 20:  # a device streaming garbage with no delimiter
                self._rx.clear()

    def _write(self, data: bytes) -> None:
        try:
            self.port.write(data)
            self.port.flush()
        except (serial.SerialException, OSError) as exc:
            raise _PortLost(str(exc)) from None
        self.stats["bytes_out"] += len(data)

    def _resync(self) -> None:
        """Drop what is buffered and end any half-received frame on the device.

        No pause to let the line go quiet: whatever is still in flight carries an old sequence
        number (skipped) or fails its CRC (one more retry at worst)."""
        self._rx.clear()
        try:
            self.port.reset_input_buffer()
            self._write(b"\x00")
        except (_PortLost, serial.SerialException, OSError):
            pass  # the next write reports it

    def _reopen(self, exc: Exception) -> None:
        """The port failed: open the same URL again until it answers or ``reconnect_timeout`` passes."""
        if self.url is None:
            raise LinkError(f"serial port failed: {exc}") from None
        deadline = time.monotonic() + self.reconnect_timeout
        with contextlib.suppress(Exception):
            self.port.close()
        while True:
            try:
                self.port = _open_port(self.url, self.baudrate)
                break
            except LinkError:
                if time.monotonic() > deadline:
                    raise LinkError(f"{self.url} failed ({exc}) and did not come back within "
                                    f"{self.reconnect_timeout:g} s") from None
                time.sleep(0.2)
        self._rx.clear()
        self.stats["reconnects"] += 1
        self._need_handshake = True

    def _handshake(self) -> None:
        """After a reconnect: ask ``info`` again and check the device still runs the same model."""
        self._handshaking = True
        try:
            self.info()
            self._need_handshake = False
        finally:
            self._handshaking = False


class RetriesExhausted(LinkError):
    """Every attempt of a request failed (the link is too noisy, or the device stopped answering)."""


class _PortLost(Exception):
    """The serial port itself failed (closed socket, unplugged USB device)."""


def _open_port(url: str, baudrate: int) -> serial.SerialBase:
    try:
        port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.05)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise LinkError(f"cannot open {url}: {exc}") from None
    sock = getattr(port, "_socket", None)  # socket:// (QEMU, ser2net): pyserial leaves Nagle on
    if sock is not None:
        # Without this a small write (a request after a block burst or a resync delimiter) waits
        # for the peer's delayed ACK of the previous one: ~40 ms per exchange on Linux.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return port


def _could_be(reported: int, sent: int) -> bool:
    """Whether a damage report about a frame of ``reported`` wire bytes may be about a request of
    ``sent``: a lost byte or two make it shorter, a delimiter flipped to non-zero one byte longer
    (the 2nd delimiter ends it). Fragments of block frames (a bit flipped to zero) are mostly
    shorter still; a request split that way is rare, and ends at the timeout. 0 = not said."""
    return reported == 0 or sent - 2 <= reported <= sent + 1


def _string(b: bytes) -> tuple[str, bytes]:
    n = b[0]
    return b[1:1 + n].decode(), b[1 + n:]
