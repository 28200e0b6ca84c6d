"""Run a command and report its wall time and the longest stretch without any output.

    python scripts/longest_silence.py [--log FILE] -- make test
    -> rc=0 wall=540.2 s longest_silence=12.1 s starting at 301.7 s

Why: "progress on every step over ~2 s" is a property of what the user sees, so it is measured on
the bytes a command writes (stdout and stderr together, as a terminal or a CI log gets them), not
on the code. The output itself is kept in --log (not echoed), and the summary line goes to stdout.
"""

from __future__ import annotations

import argparse
import os
import select
import subprocess
import sys
import time


def measure(cmd: list[str], log_path: str | None = None) -> dict:
    """Run ``cmd``; its exit code, wall seconds, and the longest gap between two output reads."""
    t0 = last = time.monotonic()
    longest, where = 0.0, 0.0
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    fd = p.stdout.fileno()
    with open(log_path or os.devnull, "wb") as log:
        while True:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            now = time.monotonic()
            if now - last > longest:
                longest, where = now - last, last - t0
            last = now
            log.write(chunk)
            log.flush()
    rc = p.wait()
    end = time.monotonic()
    if end - last > longest:  # silent until the end
        longest, where = end - last, last - t0
    return {"rc": rc, "wall": end - t0, "longest_silence": longest, "starting_at": where}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log", help="keep the command's output here")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="the command (after --)")
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        ap.error("give the command to run after --")
    r = measure(cmd, a.log)
    print(f"rc={r['rc']} wall={r['wall']:.1f} s longest_silence={r['longest_silence']:.1f} s "
          f"starting at {r['starting_at']:.1f} s")
    return r["rc"]


if __name__ == "__main__":
    sys.exit(main())
