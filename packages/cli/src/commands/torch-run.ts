/**
 * `scrl export --format torch-run`: a run folder that python/scrl_torch continues on PyTorch
 * (DDP, SyncBatchNorm, torchrun) and that `scrl pretrain --resume` continues back here.
 *
 * It holds one checkpoint in our own format (copied tensor for tensor, so nothing converts),
 * `run.json` (what the checkpoint means: config, schedule position, data order, tensor layouts,
 * the commands that continue it), `pretrain-config.json` (the resolved config, loadable by
 * `scrl pretrain --config`) and the run's `metrics.jsonl` up to the checkpoint's step.
 * docs/scale.md describes every field.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { learningRateAt, listCheckpoints, momentumAt, writeCheckpoint } from '@scrl/trainer';
import type { Checkpoint, TrainConfig, TrainPlan } from '@scrl/trainer';
import { UsageError } from '../errors';

export const TORCH_RUN_FORMAT = 'scrl-torch-run';
export const TORCH_RUN_VERSION = 1;

/** The content of `run.json` (docs/scale.md, "The torch-run folder"). */
export interface TorchRunInfo {
  format: typeof TORCH_RUN_FORMAT;
  version: number;
  /** Optimiser steps done; the checkpoint below is at this step. */
  step: number;
  /** The checkpoint, relative to the folder. */
  checkpoint: string;
  /** The sidecar it was copied from. */
  source: string;
  method: 'scrl' | 'byol';
  /** The resolved config (all keys), as the checkpoint's state.config. */
  config: TrainConfig;
  /** Schedule lengths and peak learning rate, as the checkpoint's state.plan. */
  plan: TrainPlan;
  /** Where the schedules stand: the next step's learning rate and EMA momentum. */
  schedule: { nextStep: number; totalSteps: number; warmupSteps: number; peakLr: number; nextLr: number; nextMomentum: number };
  /** The data stream: which images, in which seeded order, and how far it got. */
  data: {
    folder: string | null;
    images: number;
    seed: number;
    order: 'view-pair-loader';
    microBatchSize: number;
    microBatchesSeen: number;
    microBatchesPerEpoch: number;
    epoch: number;
    microBatchInEpoch: number;
  };
  /** Tensor names and layouts in the safetensors file. */
  tensors: Record<string, string>;
  /** Commands that continue the run. */
  continue: { torch: string; scrl: string };
}

const TENSOR_LAYOUTS: Record<string, string> = {
  'online.backbone.*': 'online ResNet, torchvision names; conv weights HWIO [kh, kw, in, out]; BatchNorm weight, bias, running_mean, running_var',
  'online.projector.net.{0,1,3}.*': 'projector MLP: net.0 Linear weight [in, out] and bias, net.1 BatchNorm1d, net.3 Linear weight [in, out] (no bias)',
  'online.predictor.net.{0,1,3}.*': 'predictor MLP, same layout as the projector',
  'target.backbone.*': 'EMA target ResNet, same names and layouts as online.backbone',
  'target.projector.net.{0,1,3}.*': 'EMA target projector',
  'optimizer.momentum.<name>': 'LARS momentum buffer of online parameter <name> (backbone.*, projector.*, predictor.*), the parameter\'s layout',
};

/** The image folder a run was trained on, from its config.json (`data`: "<abs path> (<n> images)"). */
export function runDataFolder(runDir: string): string | null {
  const file = path.join(runDir, 'config.json');
  if (!fs.existsSync(file)) return null;
  try {
    const data = (JSON.parse(fs.readFileSync(file, 'utf8')) as { data?: unknown }).data;
    const m = typeof data === 'string' ? /^(.*) \(\d+ images\)$/.exec(data) : null;
    return m && fs.existsSync(m[1]) && fs.statSync(m[1]).isDirectory() ? m[1] : null;
  } catch {
    return null;
  }
}

/**
 * Writes the torch-run folder `out` from a pretraining checkpoint. `runDir` is the run folder
 * the checkpoint belongs to (for config.json and metrics.jsonl), `data` overrides the image folder.
 */
export function exportTorchRun(ckpt: Checkpoint, out: string, options: { runDir: string | null; data?: string }): TorchRunInfo {
  const config = ckpt.state.config as TrainConfig | undefined;
  const plan = ckpt.state.plan as TrainPlan | undefined;
  if (!config || !plan) {
    throw new UsageError(`${ckpt.path}: the checkpoint has no config and plan in its state; it was not written by scrl pretrain.`);
  }
  if (fs.existsSync(out) && (!fs.statSync(out).isDirectory() || listCheckpoints(path.join(out, 'checkpoints')).length > 0)) {
    throw new UsageError(`--out '${out}' already holds a run (or is a file); torch-run exports into a new or empty folder.`);
  }
  let folder: string | null = null;
  if (options.data !== undefined) {
    if (!fs.existsSync(options.data) || !fs.statSync(options.data).isDirectory()) {
      throw new UsageError(`--data '${options.data}' is not a directory; pass the image folder the run was trained on.`);
    }
    folder = path.resolve(options.data);
  } else if (options.runDir) {
    folder = runDataFolder(options.runDir);
  }
  const sidecar = writeCheckpoint(path.join(out, 'checkpoints'), { step: ckpt.step, tensors: ckpt.tensors, state: ckpt.state }, { keep: 0 });
  const metricsIn = options.runDir ? path.join(options.runDir, 'metrics.jsonl') : null;
  if (metricsIn && fs.existsSync(metricsIn)) {
    const kept = fs
      .readFileSync(metricsIn, 'utf8')
      .split('\n')
      .filter((line) => {
        try {
          return line.trim() !== '' && (JSON.parse(line) as { step: number }).step <= ckpt.step;
        } catch {
          return false;
        }
      });
    fs.writeFileSync(path.join(out, 'metrics.jsonl'), kept.map((l) => l + '\n').join(''));
  }
  fs.writeFileSync(path.join(out, 'pretrain-config.json'), JSON.stringify(config, null, 2) + '\n');
  const B = config.batch.size;
  const seen = ckpt.step * config.batch.accumulate;
  const perEpoch = Math.max(1, Math.floor(plan.images / B));
  const sched = { peakLr: plan.peakLr, warmupSteps: plan.warmupSteps, totalSteps: plan.totalSteps };
  const dataFlag = folder ? JSON.stringify(folder) : 'IMAGES';
  const dir = JSON.stringify(path.resolve(out));
  const info: TorchRunInfo = {
    format: TORCH_RUN_FORMAT,
    version: TORCH_RUN_VERSION,
    step: ckpt.step,
    checkpoint: path.relative(out, sidecar),
    source: path.resolve(ckpt.path),
    method: config.method,
    config,
    plan,
    schedule: {
      nextStep: ckpt.step,
      totalSteps: plan.totalSteps,
      warmupSteps: plan.warmupSteps,
      peakLr: plan.peakLr,
      nextLr: ckpt.step < plan.totalSteps ? learningRateAt(ckpt.step, sched) : 0,
      nextMomentum: momentumAt(ckpt.step, config.ema.baseMomentum, plan.totalSteps),
    },
    data: {
      folder,
      images: plan.images,
      seed: config.seed,
      order: 'view-pair-loader',
      microBatchSize: B,
      microBatchesSeen: seen,
      microBatchesPerEpoch: perEpoch,
      epoch: Math.floor(seen / perEpoch),
      microBatchInEpoch: seen % perEpoch,
    },
    tensors: TENSOR_LAYOUTS,
    continue: {
      torch: `torchrun --nnodes 1 --nproc-per-node 2 -m scrl_torch.train --resume ${dir} --data ${dataFlag}`,
      scrl: `scrl pretrain --out ${dir} --resume --data ${dataFlag} --config ${JSON.stringify(path.resolve(out, 'pretrain-config.json'))}`,
    },
  };
  fs.writeFileSync(path.join(out, 'run.json'), JSON.stringify(info, null, 2) + '\n');
  return info;
}
