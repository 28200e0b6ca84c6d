#!/usr/bin/env bash
# Per-core figures: LeNet-5 (MNIST) and ResNet-small (Fashion-MNIST) validated on every emulated
# board (10 samples each): bit-exact count, emulated_instructions per inference, flash/RAM of the
# board's limits. Usage: benchmarks/per_core.sh OUTDIR (needs the trained models in the cache and
# QEMU >= 10 for the QEMU 10 boards; see target/qemu_find.py).
set -euo pipefail
OUT=${1:?usage: benchmarks/per_core.sh OUTDIR}
W=${MCUDEPLOY_CACHE:-.cache}/trained
mkdir -p "$OUT"
mcudeploy compile examples/lenet5.py:lenet5 --weights "$(ls "$W"/lenet5-mnist-*.pt | head -n1)" --calib mnist -o "$OUT/lenet"
mcudeploy compile examples/resnet_small.py:resnet_small --calib fashion-mnist -o "$OUT/resnet" \
  --weights "$(ls "$W"/resnet_small-fashion-mnist-*.pt | head -n1)"
for m in lenet:mnist resnet:fashion-mnist; do
  p=${m%%:*}; d=${m##*:}
  for b in nucleo-f446re b-l475e-iot01a mps2-an500 mps2-an505 microbit; do
    mcudeploy validate "$OUT/$p" -b "$b" --emulate --data "$d" --limit 10 --fresh --json "$OUT/$p-$b.json" \
      || echo "$p on $b: failed (see above)"
  done
done
