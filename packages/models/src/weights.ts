/**
 * Weights in and out: torchvision state_dicts (safetensors) to and from our NHWC ResNets,
 * detectron2 names for fine-tuning, and name-based copying for EMA targets and checkpoints.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BatchNorm, HasBatchNorms } from './layers';
import type { Module } from './module';
import type { ResNet } from './resnet';
import { readSafetensors, writeSafetensors, type SafetensorsTensor } from './safetensors';
import { ScrlError } from '@scrl/util';

const NUM_BATCHES_TRACKED = '.num_batches_tracked';

/** PyTorch layout -> ours: conv OIHW -> HWIO, linear [out, in] -> [in, out]; 1-D unchanged. */
function torchToTf(data: Float32Array, torchShape: number[]): tf.Tensor {
  const t = tf.tensor(data, torchShape, 'float32');
  if (torchShape.length === 4) return tf.tidy(() => tf.transpose(t, [2, 3, 1, 0]));
  if (torchShape.length === 2) return tf.tidy(() => tf.transpose(t, [1, 0]));
  return t;
}

/** Shape PyTorch would give a tensor we store with `shape`. */
function torchShapeOf(shape: number[]): number[] {
  if (shape.length === 4) return [shape[3], shape[2], shape[0], shape[1]];
  if (shape.length === 2) return [shape[1], shape[0]];
  return shape.slice();
}

function tfToTorch(t: tf.Tensor): Float32Array {
  if (t.rank !== 4 && t.rank !== 2) return t.dataSync() as Float32Array;
  const moved = t.rank === 4 ? tf.transpose(t, [3, 2, 0, 1]) : tf.transpose(t, [1, 0]);
  const data = moved.dataSync() as Float32Array;
  moved.dispose();
  return data;
}

function batchNormsByName(model: Partial<HasBatchNorms>): Map<string, BatchNorm> {
  return new Map((model.batchNorms?.() ?? []).map((bn) => [bn.name, bn]));
}

export interface LoadTorchvisionOptions {
  /**
   * Load `fc.weight`/`fc.bias` into the model's classifier. Default: true when the model was
   * built with `numClasses`; without a classifier, `fc.*` is always ignored.
   */
  classifier?: boolean;
}

/**
 * Loads a torchvision ResNet `state_dict` into `model`. `weights` is safetensors bytes (e.g.
 * `safetensors.torch.save_file(torchvision.models.resnet50(weights=...).state_dict(), path)`)
 * or an already-read tensor map. Conv weights are transposed OIHW -> HWIO and `fc.weight`
 * [out, in] -> [in, out]. `num_batches_tracked` is not needed (momentum is fixed at 0.1) but
 * kept for re-export when present. Fails, naming the tensor, on a missing, unexpected or
 * mis-shaped tensor; nothing is assigned unless every tensor checks out.
 */
export function loadTorchvisionWeights(
  model: ResNet,
  weights: Uint8Array | Map<string, SafetensorsTensor>,
  options: LoadTorchvisionOptions = {},
): void {
  const tensors = weights instanceof Map ? weights : readSafetensors(weights).tensors;
  const useFc = (options.classifier ?? model.numClasses !== null) && model.numClasses !== null;
  if (options.classifier && model.numClasses === null) {
    throw new ScrlError('Error in loadTorchvisionWeights: options.classifier is true but the model has no fc; build it with numClasses.');
  }
  const targets = [...model.parameters(), ...model.buffers()].filter((p) => useFc || !p.name.startsWith('fc.'));
  const expected = new Set(targets.map((p) => p.name));
  const unexpected = [...tensors.keys()].filter(
    (k) => !expected.has(k) && !k.endsWith(NUM_BATCHES_TRACKED) && !k.startsWith('fc.'),
  );
  if (unexpected.length > 0) {
    throw new ScrlError(
      `Error in loadTorchvisionWeights: unexpected tensors ${unexpected.slice(0, 5).join(', ')}` +
        `${unexpected.length > 5 ? ` (+${unexpected.length - 5} more)` : ''} for a ResNet-${model.depth}; ` +
        'are these weights for another depth?',
    );
  }
  for (const { name, variable } of targets) {
    const t = tensors.get(name);
    if (!t) {
      throw new ScrlError(`Error in loadTorchvisionWeights: tensor '${name}' is missing from the weights (ResNet-${model.depth} needs it).`);
    }
    const want = torchShapeOf(variable.shape);
    if (t.dtype !== 'F32' || t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
      throw new ScrlError(
        `Error in loadTorchvisionWeights: tensor '${name}' has ${t.dtype} shape [${t.shape.join(', ')}], expected F32 ` +
          `[${want.join(', ')}] (PyTorch layout)` +
          `${model.baseWidth !== 64 || model.smallInput ? '; torchvision weights need baseWidth 64 and smallInput false' : ''}.`,
      );
    }
  }
  for (const { name, variable } of targets) {
    const t = tensors.get(name) as Extract<SafetensorsTensor, { dtype: 'F32' }>;
    const value = torchToTf(t.data, t.shape);
    variable.assign(value);
    value.dispose();
  }
  for (const [name, bn] of batchNormsByName(model)) {
    const t = tensors.get(name + NUM_BATCHES_TRACKED);
    if (t && t.data.length === 1) bn.numBatchesTracked = Number(t.data[0]);
  }
}

export interface ExportTorchvisionOptions {
  /**
   * `torchvision` (default): torchvision's state_dict names and PyTorch layouts, with
   * `num_batches_tracked` (int64) and `fc.*` when present, so `load_state_dict(strict=True)`
   * works. `detectron2`: the names detectron2's `convert-torchvision-to-d2.py` produces
   * (`stem.conv1`, `stem.conv1.norm`, `res2`..`res5`, `convK.norm`, `shortcut`,
   * `shortcut.norm`), without `fc.*` and `num_batches_tracked`.
   */
  naming?: 'torchvision' | 'detectron2';
}

/** detectron2's renaming of a torchvision ResNet key (as in its convert-torchvision-to-d2.py). */
export function toDetectron2Name(name: string): string {
  let k = name;
  if (!k.includes('layer')) k = 'stem.' + k;
  for (let t = 1; t <= 4; t++) k = k.replace(`layer${t}`, `res${t + 1}`);
  for (let t = 1; t <= 3; t++) k = k.replace(`bn${t}`, `conv${t}.norm`);
  k = k.replace('downsample.0', 'shortcut');
  k = k.replace('downsample.1', 'shortcut.norm');
  return k;
}

/** The model's weights as safetensors bytes in PyTorch layouts; see ExportTorchvisionOptions. */
export function exportTorchvisionWeights(model: ResNet, options: ExportTorchvisionOptions = {}): Uint8Array {
  const naming = options.naming ?? 'torchvision';
  if (naming !== 'torchvision' && naming !== 'detectron2') {
    throw new ScrlError(`Error in exportTorchvisionWeights: naming must be 'torchvision' or 'detectron2', got ${String(naming)}.`);
  }
  const buffers = new Map(model.buffers().map((b) => [b.name, b.variable]));
  const bns = batchNormsByName(model);
  const out = new Map<string, SafetensorsTensor>();
  const put = (name: string, t: tf.Tensor) =>
    out.set(naming === 'detectron2' ? toDetectron2Name(name) : name, {
      dtype: 'F32',
      shape: torchShapeOf(t.shape),
      data: tfToTorch(t),
    });
  // state_dict order: per module, parameters then buffers.
  for (const p of model.parameters()) {
    if (naming === 'detectron2' && p.name.startsWith('fc.')) continue;
    put(p.name, p.variable);
    if (p.role !== 'bn-bias') continue;
    const prefix = p.name.slice(0, -'.bias'.length);
    put(`${prefix}.running_mean`, buffers.get(`${prefix}.running_mean`) as tf.Variable);
    put(`${prefix}.running_var`, buffers.get(`${prefix}.running_var`) as tf.Variable);
    const bn = bns.get(prefix);
    if (naming === 'torchvision' && bn) {
      out.set(prefix + NUM_BATCHES_TRACKED, { dtype: 'I64', shape: [], data: BigInt64Array.of(BigInt(bn.numBatchesTracked)) });
    }
  }
  return writeSafetensors(out, { format: 'pt', producer: '@scrl/models', naming });
}

/** Every parameter then every buffer, by stable name: the live variables (do not dispose them). */
export function getNamedTensors(module: Module): Map<string, tf.Variable> {
  const out = new Map<string, tf.Variable>();
  for (const p of module.parameters()) out.set(p.name, p.variable);
  for (const b of module.buffers()) out.set(b.name, b.variable);
  return out;
}

export interface SetNamedTensorsOptions {
  /** Fail when a module tensor is missing from the map or the map has extra names. Default true. */
  strict?: boolean;
}

/**
 * Assigns tensors (our layouts: conv HWIO, linear [in, out]) to a module's parameters and buffers
 * by name. Checks every name and shape before assigning anything. The module keeps its own
 * copy: disposing the inputs afterwards is safe.
 */
export function setNamedTensors(
  module: Module,
  tensors: Map<string, tf.Tensor> | Record<string, tf.Tensor>,
  options: SetNamedTensorsOptions = {},
): void {
  const strict = options.strict ?? true;
  const map = tensors instanceof Map ? tensors : new Map(Object.entries(tensors));
  const own = getNamedTensors(module);
  if (strict) {
    const missing = [...own.keys()].filter((k) => !map.has(k));
    const extra = [...map.keys()].filter((k) => !own.has(k));
    if (missing.length > 0 || extra.length > 0) {
      throw new ScrlError(
        `Error in setNamedTensors: names do not match the module (strict): missing ${missing.slice(0, 5).join(', ') || 'none'}` +
          `${missing.length > 5 ? ` (+${missing.length - 5})` : ''}; unexpected ${extra.slice(0, 5).join(', ') || 'none'}` +
          `${extra.length > 5 ? ` (+${extra.length - 5})` : ''}. Pass { strict: false } to assign only the common names.`,
      );
    }
  }
  const pairs: Array<[tf.Variable, tf.Tensor]> = [];
  for (const [name, variable] of own) {
    const t = map.get(name);
    if (!t) continue;
    if (t.dtype !== variable.dtype || t.shape.length !== variable.shape.length || t.shape.some((d, i) => d !== variable.shape[i])) {
      throw new ScrlError(
        `Error in setNamedTensors: tensor '${name}' is ${t.dtype} [${t.shape.join(', ')}], the module's is ` +
          `${variable.dtype} [${variable.shape.join(', ')}].`,
      );
    }
    pairs.push([variable, t]);
  }
  // assign() shares the data (TF.js tensors are immutable), so a later dispose of `t` is safe.
  for (const [variable, t] of pairs) variable.assign(t);
}

/**
 * Copies parameters and buffers from one module to another by name (e.g. to start the BYOL/SCRL
 * target as a copy of the online network). Both must have the same names and shapes.
 */
export function copyWeights(from: Module, to: Module): void {
  setNamedTensors(to, getNamedTensors(from), { strict: true });
  const target = batchNormsByName(to as Partial<HasBatchNorms>);
  for (const [name, bn] of batchNormsByName(from as Partial<HasBatchNorms>)) {
    const other = target.get(name);
    if (other) other.numBatchesTracked = bn.numBatchesTracked;
  }
}

/** What {@link resnetArchitectureOf} reads off a state_dict: `createResNet` options. */
export interface ResNetArchitecture {
  depth: 18 | 34 | 50 | 101;
  smallInput: boolean;
  baseWidth: number;
}

/**
 * The architecture of a torchvision-named ResNet state_dict (tensor names and the shape of
 * `conv1.weight`, OIHW): depth from the blocks per stage and the block kind, the stem (7x7 or
 * the small-input 3x3) and the base width. Fails naming the block counts it found.
 */
export function resnetArchitectureOf(names: readonly string[], conv1Shape: readonly number[]): ResNetArchitecture {
  const blocks = [1, 2, 3, 4].map((l) => {
    const ids = new Set(names.filter((n) => n.startsWith(`layer${l}.`)).map((n) => n.split('.')[1]));
    return ids.size;
  });
  const bottleneck = names.some((n) => /^layer1\.0\.conv3\./.test(n));
  const key = blocks.join(',');
  const depth = bottleneck
    ? key === '3,4,6,3' ? 50 : key === '3,4,23,3' ? 101 : null
    : key === '2,2,2,2' ? 18 : key === '3,4,6,3' ? 34 : null;
  if (depth === null) {
    throw new ScrlError(
      `Error in resnetArchitectureOf: the weights have ${key} blocks per stage (${bottleneck ? 'bottleneck' : 'basic'}), ` +
        'not a ResNet-18/34/50/101; pass torchvision-named ResNet weights.',
    );
  }
  return { depth, smallInput: conv1Shape[2] === 3, baseWidth: conv1Shape[0] };
}
