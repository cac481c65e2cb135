#!/usr/bin/env bash
# Long pretraining runs for the regime curve of issue 22 (box/dense probe against pretraining
# steps): ResNet-18 small-input width 16, 32 px views, batch 64, 2000 steps (100 warmup),
# EMA base 0.99, a checkpoint every 50 steps, all kept. Resumable: run it again with the same
# arguments and it continues from the newest checkpoint in experiments/regime/<method>-s<seed>[-blr<lr>].
#
#   bash experiments/regime/run.sh byol 0          # base lr 0.45 (the preset's): out byol-s0
#   bash experiments/regime/run.sh scrl 0 7.2      # base lr 7.2: out scrl-s0-blr7.2
#
# The base lr is scaled by batch / 256 (peak 0.1125 at 0.45, 1.8 at 7.2). At 0.45 LARS's steps
# are so small at batch 64 that the backbone moved 4.4 % in 950 steps (experiments/regime/README.md).
# REGIME_OUT overrides the folder that holds the runs (default experiments/regime).
#
# The data: 4000 unlabelled 64 px scenes of 1 to 6 objects, seed 1 (byte-identical on every
# machine), generated once into .scrl-cache/regime-scenes-4000 (REGIME_DATA overrides).
set -euo pipefail
method=${1:?method: scrl or byol}
seed=${2:-0}
lr=${3:-0.45}
shift $(( $# < 3 ? $# : 3 ))  # the rest goes to scrl pretrain (e.g. --max-steps N)
cd "$(dirname "$0")/../.."
data=${REGIME_DATA:-.scrl-cache/regime-scenes-4000}
[ -f "$data/annotations.json" ] || npx scrl data generate --out "$data" --images 4000 --size 64 --min-objects 1 --max-objects 6 --seed 1
suffix=""
[ "$lr" = "0.45" ] || suffix="-blr$lr"
out=${REGIME_OUT:-experiments/regime}/$method-s$seed$suffix
resume=""
[ -d "$out/checkpoints" ] && resume="--resume"
exec npx scrl pretrain --data "$data/images" --out "$out" --method "$method" \
  --set seed="$seed" --set model.baseWidth=16 --set batch.size=64 --set schedule.steps=2000 --set schedule.warmupSteps=100 \
  --set optimizer.baseLr="$lr" \
  --set ema.baseMomentum=0.99 --set checkpoint.every=250 --set checkpoint.keep=0 --checkpoint-every 50 --workers 1 $resume "$@"
