/**
 * The online and target networks of SCRL/BYOL, their forward passes, and their tensors as a
 * flat dictionary for checkpoints.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createResNet, predictionHead, projectionHead } from '@scrl/models';
import type { MlpHead, Module, NamedBuffer, NamedParameter, ResNet } from '@scrl/models';
import { roiAlign } from '@scrl/roi-align';
import type { TrainConfig } from './config';
import { copyModuleState } from '@scrl/optim';
import type { TensorDict } from '@scrl/models';
import { ScrlError } from '@scrl/util';

/** Online: backbone -> (RoIAlign on C5 | global pool) -> projector -> predictor. */
export interface OnlineNetwork {
  backbone: ResNet;
  projector: MlpHead;
  predictor: MlpHead;
}

/** Target: backbone -> (RoIAlign on C5 | global pool) -> projector; updated by EMA only. */
export interface TargetNetwork {
  backbone: ResNet;
  projector: MlpHead;
}

export interface Networks {
  online: OnlineNetwork;
  target: TargetNetwork;
}

/** Regions to pool: box pairs over the stacked views `[view 1 of 0..B-1, view 2 of 0..B-1]`. */
export interface Regions {
  /** `[2P, 4]` view-1 boxes then view-2 boxes, in view pixels. */
  boxes: tf.Tensor2D;
  /** `[2P]` int32 row of each box in the stacked views. */
  boxIndices: tf.Tensor1D;
}

/** Distinct initialiser seeds per module from the run's seed. */
function seeds(seed: number) {
  const base = seed * 10;
  return { backbone: base + 1, projector: base + 2, predictor: base + 3, targetBackbone: base + 4, targetProjector: base + 5 };
}

export function buildNetworks(config: TrainConfig): Networks {
  const s = seeds(config.seed);
  const m = config.model;
  const backbone = (seed: number) => createResNet({ depth: m.depth, smallInput: m.smallInput, baseWidth: m.baseWidth, seed });
  const onlineBackbone = backbone(s.backbone);
  const dim = onlineBackbone.featureDim;
  const projector = (seed: number) =>
    projectionHead({ inDim: dim, hiddenDim: m.projector.hiddenDim, outDim: m.projector.outDim, seed });
  const online: OnlineNetwork = {
    backbone: onlineBackbone,
    projector: projector(s.projector),
    predictor: predictionHead({
      inDim: m.projector.outDim,
      hiddenDim: m.predictor.hiddenDim,
      outDim: m.projector.outDim,
      seed: s.predictor,
    }),
  };
  const target: TargetNetwork = { backbone: backbone(s.targetBackbone), projector: projector(s.targetProjector) };
  if (config.ema.targetInit === 'copy') {
    copyModuleState(target.backbone, online.backbone);
    copyModuleState(target.projector, online.projector);
  }
  return { online, target };
}

export function disposeNetworks(n: Networks): void {
  for (const m of [n.online.backbone, n.online.projector, n.online.predictor, n.target.backbone, n.target.projector]) m.dispose();
}

/** The online parameters the optimiser updates, with module-prefixed names. */
export function onlineParameters(online: OnlineNetwork): NamedParameter[] {
  const out: NamedParameter[] = [];
  for (const [prefix, mod] of [
    ['backbone', online.backbone],
    ['projector', online.projector],
    ['predictor', online.predictor],
  ] as const) {
    for (const p of mod.parameters()) out.push({ ...p, name: `${prefix}.${p.name}` });
  }
  return out;
}

/**
 * Features to project: SCRL pools each box of C5 with RoIAlign (1x1 output, spatialScale
 * 1 / stride, samplingRatio -1, aligned false); BYOL uses the global average pool.
 */
export function embed(backbone: ResNet, views: tf.Tensor4D, regions: Regions | null, training: boolean): tf.Tensor2D {
  return tf.tidy(() => {
    const f = backbone.features(views, { training });
    if (regions === null) return f.pooled;
    const pooled = roiAlign(f.c5, regions.boxes, regions.boxIndices, 1, {
      spatialScale: 1 / backbone.stride.c5,
      samplingRatio: -1,
      aligned: false,
    });
    return tf.reshape(pooled, [pooled.shape[0], pooled.shape[3]]) as tf.Tensor2D;
  });
}

/** Online predictions `[R, D]` (R = 2P boxes or 2B images). */
export function onlineForward(online: OnlineNetwork, views: tf.Tensor4D, regions: Regions | null): tf.Tensor2D {
  return tf.tidy(() => {
    const h = embed(online.backbone, views, regions, true);
    return online.predictor.apply(online.projector.apply(h, { training: true }), { training: true });
  });
}

/**
 * Target projections `[R, D]`, in training mode (batch statistics). Call it outside the
 * gradient scope (as `train` does): the target gets no gradient.
 */
export function targetForward(target: TargetNetwork, views: tf.Tensor4D, regions: Regions | null): tf.Tensor2D {
  return tf.tidy(() => {
    const h = embed(target.backbone, views, regions, true);
    return target.projector.apply(h, { training: true });
  });
}

const MODULES = (n: Networks): Array<[string, ResNet | MlpHead]> => [
  ['online.backbone', n.online.backbone],
  ['online.projector', n.online.projector],
  ['online.predictor', n.online.predictor],
  ['target.backbone', n.target.backbone],
  ['target.projector', n.target.projector],
];

function entries(mod: Module): Array<NamedParameter | NamedBuffer> {
  return [...mod.parameters(), ...mod.buffers()];
}

/** Every parameter and buffer of both networks, as `online.backbone.layer1.0.conv1.weight` etc. */
export async function networkTensors(n: Networks): Promise<TensorDict> {
  const out: TensorDict = {};
  for (const [prefix, mod] of MODULES(n)) {
    for (const e of entries(mod)) {
      out[`${prefix}.${e.name}`] = { shape: [...e.variable.shape], data: new Float32Array(await e.variable.data()) };
    }
  }
  return out;
}

/** BatchNorm `num_batches_tracked` counters (kept in JS by @scrl/models), by module prefix. */
export function batchNormCounters(n: Networks): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [prefix, mod] of MODULES(n)) {
    out[prefix] = mod.batchNorms().map((b) => b.numBatchesTracked);
  }
  return out;
}

/** Restores both networks from {@link networkTensors} output; fails naming a missing or misshapen tensor. */
export function restoreNetworks(n: Networks, tensors: TensorDict, counters?: Record<string, number[]>): void {
  for (const [prefix, mod] of MODULES(n)) {
    for (const e of entries(mod)) {
      const key = `${prefix}.${e.name}`;
      const t = tensors[key];
      if (!t) throw new ScrlError(`Error in restoreNetworks: the checkpoint has no tensor '${key}'; was it written with another model config?`);
      if (t.shape.join(',') !== e.variable.shape.join(',')) {
        throw new ScrlError(
          `Error in restoreNetworks: '${key}' has shape [${t.shape}] in the checkpoint but [${e.variable.shape}] in the model; the model config differs.`,
        );
      }
      tf.tidy(() => e.variable.assign(tf.tensor(t.data, t.shape, 'float32')));
    }
    const saved = counters?.[prefix];
    if (saved) {
      mod.batchNorms().forEach((b, i) => (b.numBatchesTracked = saved[i] ?? b.numBatchesTracked));
    }
  }
}
