/**
 * Backbones from what pretraining leaves behind: the online backbone of a checkpoint, or a
 * backbone named by an init string (`random`, a run folder, a checkpoint sidecar, or
 * torchvision-named safetensors), for evaluation, export and the user's own code.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { createResNet, loadTorchvisionWeights, readSafetensors, resnetArchitectureOf, setNamedTensors } from '@scrl/models';
import type { ResNet } from '@scrl/models';
import { ScrlError } from '@scrl/util';
import { findLatestCheckpoint, readCheckpoint } from './checkpoint';
import type { Checkpoint } from './checkpoint';
import type { TrainConfig } from './config';

/**
 * The checkpoint `target` names: a sidecar file (`ckpt-*.json`), a checkpoints folder, or a run
 * folder holding `checkpoints/` (its newest valid checkpoint).
 */
export function resolveCheckpoint(target: string, options: { warn?: (line: string) => void } = {}): Checkpoint {
  const fn = 'resolveCheckpoint';
  if (!fs.existsSync(target)) throw new ScrlError(`Error in ${fn}: '${target}' does not exist.`);
  if (fs.statSync(target).isFile()) {
    if (!target.endsWith('.json')) {
      throw new ScrlError(`Error in ${fn}: '${target}' is a file but not a checkpoint sidecar (ckpt-*.json).`);
    }
    return readCheckpoint(target);
  }
  const dir = fs.existsSync(path.join(target, 'checkpoints')) ? path.join(target, 'checkpoints') : target;
  const ckpt = findLatestCheckpoint(dir, { warn: options.warn ?? ((m) => process.stderr.write(m + '\n')) });
  if (!ckpt) {
    throw new ScrlError(
      `Error in ${fn}: no valid checkpoint in '${dir}'. Pass a pretrain run folder (with checkpoints/) or a ckpt-*.json.`,
    );
  }
  return ckpt;
}

/** The online backbone of a pretraining checkpoint, as a ResNet, with the run's config. */
export function backboneFromCheckpoint(ckpt: Checkpoint): { model: ResNet; config: TrainConfig } {
  const config = ckpt.state.config as TrainConfig | undefined;
  if (!config || !config.model) {
    throw new ScrlError(
      `Error in backboneFromCheckpoint: ${ckpt.path} has no config.model; pass a checkpoint written by train() (scrl pretrain).`,
    );
  }
  const m = config.model;
  const model = createResNet({ depth: m.depth, smallInput: m.smallInput, baseWidth: m.baseWidth, seed: config.seed });
  const prefix = 'online.backbone.';
  const tensors = new Map<string, tf.Tensor>();
  for (const [key, t] of Object.entries(ckpt.tensors)) {
    if (key.startsWith(prefix)) tensors.set(key.slice(prefix.length), tf.tensor(t.data, t.shape, 'float32'));
  }
  try {
    setNamedTensors(model, tensors, { strict: true });
  } finally {
    tf.dispose([...tensors.values()]);
  }
  return { model, config };
}

/**
 * A backbone from an init string: `random` (built from `fallback.model` and `fallback.seed`), a
 * pretrain run folder or checkpoint sidecar (its online backbone), or torchvision-named
 * `.safetensors` (architecture read off the weights). `log` receives one line on what was loaded.
 */
export function backboneFromInit(
  init: string,
  fallback: TrainConfig,
  options: { log?: (line: string) => void } = {},
): { model: ResNet; description: string; /** Seed of the random init the weights were built on. */ seed: number } {
  const log = options.log ?? (() => undefined);
  if (init === 'random') {
    const m = fallback.model;
    const model = createResNet({ depth: m.depth, smallInput: m.smallInput, baseWidth: m.baseWidth, seed: fallback.seed });
    return { model, description: `random init (ResNet-${m.depth}, width ${m.baseWidth}, seed ${fallback.seed})`, seed: fallback.seed };
  }
  if (!fs.existsSync(init)) {
    throw new ScrlError(
      `Error in backboneFromInit: init '${init}' does not exist. Pass random, a pretrain run folder, a ckpt-*.json or a .safetensors file.`,
    );
  }
  if (fs.statSync(init).isFile() && init.endsWith('.safetensors')) {
    let file: ReturnType<typeof readSafetensors>;
    try {
      file = readSafetensors(fs.readFileSync(init));
    } catch (err) {
      const reason = (err as Error).message.replace(/^(Error in )?readSafetensors: /, '');
      throw new ScrlError(`Error in backboneFromInit: ${init}: ${reason} Pass an intact .safetensors file (e.g. from scrl export).`);
    }
    const conv1 = file.tensors.get('conv1.weight');
    if (!conv1) {
      throw new ScrlError(
        `Error in backboneFromInit: ${init} has no 'conv1.weight'; pass torchvision-named weights (scrl export --format torchvision).`,
      );
    }
    const arch = resnetArchitectureOf([...file.tensors.keys()], conv1.shape);
    const model = createResNet({ ...arch, seed: 0 });
    loadTorchvisionWeights(model, file.tensors, { classifier: false });
    log(`[scrl] init: ${init} (ResNet-${arch.depth}, width ${arch.baseWidth}${arch.smallInput ? ', small-input stem' : ''})`);
    return { model, description: `torchvision weights ${init}`, seed: 0 };
  }
  const ckpt = resolveCheckpoint(init, { warn: log });
  const { model, config } = backboneFromCheckpoint(ckpt);
  log(`[scrl] init: ${ckpt.path} (${config.method}, step ${ckpt.step})`);
  return { model, description: `${config.method} checkpoint ${ckpt.path} (step ${ckpt.step})`, seed: config.seed };
}
