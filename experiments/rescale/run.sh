#!/usr/bin/env bash
# Issue 21 item 4: does rescaling each convolution to its initial norm (--rescale-conv-norms)
# change few-label detection from our seed-0 backbones? The few-label protocol of
# experiments/results at the lr its sweep chose for every initialisation (0.04), without the
# sweep; `control` is the same command without rescaling, which must reproduce the protocol's AP.
set -euo pipefail
cd "$(dirname "$0")/../.."
R=${REGIME_OUT:-experiments/regime}
run() { # name init extra...
  local name=$1 init=$2; shift 2
  [ -f "experiments/rescale/$name/metrics.json" ] && { echo "done: $name"; return; }
  npx scrl eval detection --init "$init" --out "experiments/rescale/$name" --seed 0 --labels 160 --steps 500 --lr 0.04 "$@" \
    > "experiments/rescale/$name.log" 2>&1
}
run byol-s0-rescaled "$R/byol-s0-blr7.2/checkpoints/ckpt-00002000.json" --rescale-conv-norms
run scrl-s0-rescaled "$R/scrl-s0-blr7.2/checkpoints/ckpt-00002000.json" --rescale-conv-norms
run byol-s0-control "$R/byol-s0-blr7.2/checkpoints/ckpt-00002000.json"
