#!/usr/bin/env bash
# Long pretraining runs for the regime curve of issue 22 (box/dense probe against pretraining
# steps): ResNet-18 small-input width 16, 32 px views, batch 64, 2000 steps (100 warmup),
# EMA base 0.99, a checkpoint every 50 steps, all kept. Resumable: run it again with the same
# arguments and it continues from the newest checkpoint in experiments/regime/<method>-s<seed>.
#
#   bash experiments/regime/run.sh byol 0     # or: scrl 0
#
# The data: 4000 unlabelled 64 px scenes of 1 to 6 objects, seed 1 (byte-identical on every
# machine), generated once into .scrl-cache/regime-scenes-4000.
set -euo pipefail
method=${1:?method: scrl or byol}
seed=${2:-0}
shift $(( $# < 2 ? $# : 2 ))  # the rest goes to scrl pretrain (e.g. --max-steps N)
cd "$(dirname "$0")/../.."
data=.scrl-cache/regime-scenes-4000
[ -f "$data/annotations.json" ] || npx scrl data generate --out "$data" --images 4000 --size 64 --min-objects 1 --max-objects 6 --seed 1
out=experiments/regime/$method-s$seed
resume=""
[ -d "$out/checkpoints" ] && resume="--resume"
exec npx scrl pretrain --data "$data/images" --out "$out" --method "$method" \
  --set seed="$seed" --set model.baseWidth=16 --set batch.size=64 --set schedule.steps=2000 --set schedule.warmupSteps=100 \
  --set ema.baseMomentum=0.99 --set checkpoint.every=250 --set checkpoint.keep=0 --checkpoint-every 50 --workers 1 $resume "$@"
