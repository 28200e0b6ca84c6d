"""Load a firmware ELF into a board through a GDB remote stub: how an emulated farm place is "flashed".

Usage::

    load_elf("127.0.0.1", 40001, Path("firmware.elf"))   # write its segments, reset, run; TargetError if not

An emulated place runs QEMU on its exporter host halted (``-S``) with no firmware and its
gdbstub on a TCP port (exported as the place's ``gdb`` resource). Whoever acquires the place
writes the ELF's loadable segments at their load addresses (``M`` packets), resets the machine
(``monitor system_reset``: the core reads its stack pointer and reset vector from the flash just
written, exactly as silicon does after a probe programs it) and detaches (``D``: QEMU runs on).
This is the same remote protocol a debug probe's GDB server speaks (pyOCD, OpenOCD), so the
client needs no file system on the exporter host. The protocol is GDB's: ``$data#cs`` packets
with a modulo-256 checksum, each acknowledged with ``+``.
"""

from __future__ import annotations

import re
import socket
import struct
from pathlib import Path

from ..errors import TargetError

CHUNK = 1024  # bytes per M packet: 2,048 hex digits + header, inside QEMU's 4 KB packet buffer


def segments(elf: Path) -> list[tuple[int, bytes]]:
    """(load address, bytes) of each PT_LOAD segment of a 32-bit little-endian ELF, by physical
    (load) address: the image a programmer writes to flash (.data's initial values included)."""
    data = Path(elf).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        raise TargetError(f"{elf} is not a 32-bit little-endian ELF file: build the project again")
    phoff, = struct.unpack_from("<I", data, 28)
    phentsize, phnum = struct.unpack_from("<HH", data, 42)
    out = []
    for k in range(phnum):
        p_type, p_offset, _vaddr, p_paddr, p_filesz = struct.unpack_from("<5I", data, phoff + k * phentsize)
        if p_type == 1 and p_filesz:
            out.append((p_paddr, data[p_offset:p_offset + p_filesz]))
    return out


class GdbRemote:
    """A minimal GDB remote-protocol client (the packets a loader needs)."""

    def __init__(self, host: str, port: int, timeout: float = 10.0):
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise TargetError(f"cannot reach the place's GDB stub at {host}:{port}: {exc}") from None
        # each packet is answered, then acknowledged with a 1-byte "+": with Nagle's algorithm the next
        # packet waited for the stub's delayed ACK of that byte (~50 ms a packet: 295 KB took 14.6 s, 0.3-0.5 s now)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.where = f"{host}:{port}"
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def _read(self) -> bytes:
        try:
            chunk = self.sock.recv(4096)
        except OSError as exc:
            raise TargetError(f"GDB stub at {self.where} stopped answering: {exc}") from None
        if not chunk:
            raise TargetError(f"GDB stub at {self.where} closed the connection")
        return chunk

    def command(self, payload: str) -> str:
        """Send one packet; its reply packet's data (acknowledged)."""
        body = payload.encode()
        self.sock.sendall(b"$" + body + b"#" + f"{sum(body) & 0xFF:02x}".encode())
        while True:
            start = self.buf.find(b"$")
            end = self.buf.find(b"#", start)
            if start >= 0 and end >= 0 and len(self.buf) >= end + 3:
                data, self.buf = self.buf[start + 1:end], self.buf[end + 3:]
                self.sock.sendall(b"+")
                if data.startswith(b"O") and data != b"OK":  # console output of a monitor command
                    continue
                if re.match(rb"[TS][0-9a-fA-F]{2}", data) and payload != "?":
                    continue  # the stop reply QEMU sends when a debugger attaches to a running machine
                return data.decode(errors="replace")
            self.buf += self._read()

    def write(self, addr: int, blob: bytes) -> None:
        for off in range(0, len(blob), CHUNK):
            part = blob[off:off + CHUNK]
            reply = self.command(f"M{addr + off:x},{len(part):x}:{part.hex()}")
            if reply != "OK":
                raise TargetError(f"GDB stub at {self.where} refused a write at {addr + off:#010x}: {reply!r}")

    def monitor(self, cmd: str) -> str:
        return self.command("qRcmd," + cmd.encode().hex())


def halt(host: str, port: int) -> None:
    """Stop the board behind the stub (QEMU halts a machine when a debugger attaches and keeps
    it halted after the debugger leaves without detaching): a released emulated place then costs
    no CPU until the next client loads its firmware."""
    gdb = GdbRemote(host, port)
    try:
        gdb.command("?")
    finally:
        gdb.close()


def load_elf(host: str, port: int, elf: Path) -> int:
    """Write ``elf`` into the halted board behind the stub, reset it and let it run; bytes written."""
    segs = segments(elf)
    gdb = GdbRemote(host, port)
    try:
        gdb.command("?")  # attach: the machine halts (if it ran) and reports why
        total = 0
        for addr, blob in segs:
            gdb.write(addr, blob)
            total += len(blob)
        reply = gdb.monitor("system_reset")
        if reply.startswith("E"):
            raise TargetError(f"GDB stub at {host}:{port} could not reset the board: {reply}")
        gdb.command("D")  # detach: the machine runs from its reset vector
    finally:
        gdb.close()
    return total
