"""The firmware's frame parser and protocol dispatch, fuzzed on the host with libFuzzer under
AddressSanitizer + UndefinedBehaviorSanitizer (harness: tests/fixtures/fuzz_protocol.c).

Bounded for CI: two fuzzing processes (one per core) of 500,000 executions each, from a seed
corpus of valid frames, in raw and framed mode. Any sanitizer report, trap (a malformed reply) or
crash fails the test with the fuzzer's own output. Needs clang with libFuzzer (Debian: clang).
"""

from __future__ import annotations

import re
import resource
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest
from mcudeploy.link.framing import VERSION, Frame, encode
from mcudeploy.paths import FIRMWARE_TEMPLATE

FIXTURES = Path(__file__).parent / "fixtures"
RUNS_PER_WORKER, WORKERS = 500_000, 2
SAN = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g", "-O1"]


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory):
    clang = shutil.which("clang")
    if clang is None:
        pytest.skip("clang absent (apt-get install clang): the libFuzzer test needs it")
    out = tmp_path_factory.mktemp("fuzz")
    src, eng = FIRMWARE_TEMPLATE / "src", FIXTURES / "fc_project" / "engine"
    inc = ["-DMCD_LAYER_HOOK", "-I", str(src), "-I", str(eng)]

    def cc(*args):
        r = subprocess.run([clang, *args], cwd=out, check=False, capture_output=True, text=True)
        if r.returncode:
            if "fuzzer" in r.stderr and ("cannot find" in r.stderr or "not found" in r.stderr):
                pytest.skip(f"clang has no libFuzzer runtime: {r.stderr.strip()[-200:]}")
            raise AssertionError(r.stderr)

    # Coverage on the firmware; comparison tracing only where it pays (the command dispatch's
    # argument checks), not in the per-byte COBS/CRC loops where it dominated the run time.
    cc("-fsanitize=fuzzer", *SAN, *inc, "-c", str(src / "protocol.c"))
    cc("-fsanitize=fuzzer", "-fno-sanitize-coverage=trace-cmp", *SAN, *inc, "-c",
       str(src / "frame.c"), str(src / "run.c"), str(eng / "model.c"))
    cc(*SAN, "-I", str(src), "-c", str(FIXTURES / "fuzz_protocol.c"))  # the harness: not traced
    cc("-fsanitize=fuzzer", *SAN, "protocol.o", "frame.o", "run.o", "model.o", "fuzz_protocol.o",
       "-o", "fuzz_protocol")
    return out / "fuzz_protocol"


def _seeds(corpus: Path) -> None:
    corpus.mkdir()
    frames = [Frame(1, 0x01, b""), Frame(2, 0x02, struct.pack("<I", 0) + bytes(range(16))),
              Frame(3, 0x03, b""), Frame(4, 0x04, struct.pack("<IH", 0, 4)), Frame(5, 0x05, struct.pack("<H", 1)),
              Frame(6, 0x06, struct.pack("<I", 3)), Frame(7, 0x02, struct.pack("<I", 15) + b"\x01"),
              Frame(8, 0x09, struct.pack("<H", 0)), Frame(9, 0x0A, struct.pack("<HIH", 0, 2, 4))]
    for i, f in enumerate(frames):
        (corpus / f"raw{i}").write_bytes(b"\x00" + encode(f))  # mode 0: bytes as on the wire
        body = bytes([VERSION, f.seq, f.type]) + f.payload
        (corpus / f"framed{i}").write_bytes(b"\x01" + bytes([len(body)]) + body)  # mode 1: records
    (corpus / "stream").write_bytes(b"\x00" + b"".join(encode(f) for f in frames))


def test_frame_parser_survives_a_million_fuzz_executions(fuzzer, tmp_path):
    # libFuzzer's RSS check reads getrusage's ru_maxrss, which Linux carries across fork + exec:
    # the fuzzer starts with this pytest process's peak (torch and all). Allow 1 GB above it.
    rss_limit_mb = 1024 + resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    procs = []
    t0 = time.monotonic()
    for w in range(WORKERS):
        corpus = tmp_path / f"corpus{w}"
        _seeds(corpus)
        procs.append(subprocess.Popen(
            [str(fuzzer), f"-runs={RUNS_PER_WORKER}", f"-seed={w + 1}", "-max_len=4096", "-timeout=10",
             f"-rss_limit_mb={rss_limit_mb}", "-print_final_stats=1", f"-artifact_prefix={tmp_path}/", str(corpus)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    logs = [p.communicate(timeout=900)[0] for p in procs]
    seconds = time.monotonic() - t0
    total = 0
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-4000:]
        assert "Sanitizer" not in log and "runtime error" not in log, log[-4000:]
        m = re.search(r"Done (\d+) runs", log)
        assert m, log[-2000:]
        total += int(m.group(1))
    print(f"fuzz: {total:,} executions in {seconds:.1f} s over {WORKERS} processes, no sanitizer report")
    assert total >= 1_000_000
