"""The C block hook (blocktime.c): built once with the host C compiler, loaded with ctypes.

    >>> hook = NativeBlockHook.attach(uc, cost)   # None without a C compiler: use the Python hook
    >>> hook.cycles, hook.instructions, hook.selfloop_pc

``cost(code, addr)`` gives (cycles, instructions, ends in a branch, is `b .`) of a block seen for
the first time. The shared library is cached beside the other caches (MCUDEPLOY_CACHE), named by
the hash of its source, written to a temporary name and renamed, so concurrent first runs never
load a half-written file.
"""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
from pathlib import Path

SRC = Path(__file__).with_name("blocktime.c")


class _State(ctypes.Structure):
    _fields_ = [("cycles", ctypes.c_uint64), ("instructions", ctypes.c_uint64), ("prev_end", ctypes.c_uint64),
                ("selfloop_pc", ctypes.c_uint64), ("prev_branch", ctypes.c_uint32), ("count", ctypes.c_uint32),
                ("mask", ctypes.c_uint32), ("pad", ctypes.c_uint32), ("table", ctypes.c_void_p),
                ("miss", ctypes.c_void_p), ("stop", ctypes.c_void_p)]


MISS = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32)


def library() -> ctypes.CDLL | None:
    """The compiled helper, building it on first use; None when there is no C compiler."""
    from ...cachefile import atomic_write, produce_once
    from ...paths import CACHE

    src = SRC.read_bytes()
    out_dir = CACHE / "native"
    so = out_dir / f"blocktime-{hashlib.sha256(src).hexdigest()[:12]}.so"
    if not so.is_file():
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            return None
        with produce_once(so):  # parallel test workers: one compiles, the other waits and loads it
            if not so.is_file():
                try:
                    with atomic_write(so, suffix=".so") as tmp:
                        subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(tmp), str(SRC)],
                                       capture_output=True, text=True, check=True)
                except subprocess.CalledProcessError:
                    return None
    lib = ctypes.CDLL(str(so))
    lib.mcd_insert.argtypes = [ctypes.POINTER(_State), ctypes.c_uint64, ctypes.c_uint32, ctypes.c_uint32,
                               ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32]
    lib.mcd_init.argtypes = [ctypes.POINTER(_State), ctypes.c_void_p, ctypes.c_void_p]
    return lib


class NativeBlockHook:
    def __init__(self, lib, state, miss):
        self.lib, self.state, self._miss = lib, state, miss

    @property
    def cycles(self) -> int:
        return self.state.cycles

    @property
    def instructions(self) -> int:
        return self.state.instructions

    @property
    def selfloop_pc(self) -> int:
        return self.state.selfloop_pc

    @classmethod
    def attach(cls, uc, cost) -> NativeBlockHook | None:
        from unicorn import UC_HOOK_BLOCK
        from unicorn.unicorn_py3.unicorn import uc_hook_h, uclib

        lib = library()
        if lib is None:
            return None
        state = _State()
        ptr = ctypes.pointer(state)

        def miss(_uc, addr, size):
            code = bytes(uc.mem_read(addr, size))
            cyc, n, br, loop = cost(code, addr)
            lib.mcd_insert(ptr, addr, size, cyc, n, int(br), int(loop))

        miss_fn = MISS(miss)
        stop = ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p).value
        if lib.mcd_init(ptr, ctypes.cast(miss_fn, ctypes.c_void_p).value, stop):
            return None
        handle = uc_hook_h()
        fn = ctypes.cast(lib.mcd_block, ctypes.c_void_p)
        status = uclib.uc_hook_add(uc._uch, ctypes.byref(handle), UC_HOOK_BLOCK, fn, ctypes.cast(ptr, ctypes.c_void_p),
                                   1, 0)
        if status != 0:
            return None
        return cls(lib, state, (miss_fn, ptr, handle))
