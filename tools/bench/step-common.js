/**
 * The SCRL/BYOL optimiser step that tools/bench/step.js times and tools/bench/profile-step.js
 * profiles: the `cpu` preset's networks, synthetic views, box pairs from the real samplers.
 */
'use strict';
const path = require('node:path');

const root = path.resolve(__dirname, '../..');
const tf = require(require.resolve('@tensorflow/tfjs-core', { paths: [root] }));
const aug = require('@scrl/augment');
const loss = require('@scrl/loss');
const T = require('@scrl/trainer');

/** Box pairs of B images from the real crop sampler and box sampler, seeded. */
function samplePairs(B, S, minSize) {
  const pipeline = aug.createViewPipeline({ viewSize: S });
  const out = [];
  for (let i = 0; i < B; i++) {
    const rng = aug.createRng(1000 + i);
    const g1 = pipeline.decide({ width: 96, height: 96 }, rng, 1).geometry;
    const g2 = pipeline.decide({ width: 96, height: 96 }, rng, 2).geometry;
    out.push(aug.sampleBoxPairs(g1, g2, { viewSize: S, minSize }, rng.fork('boxes')));
  }
  return out;
}

/**
 * Networks, optimiser and inputs for steps of `method` ('scrl' | 'byol') on the current
 * backend; `step()` runs one optimiser step (target forward, online forward + loss + backward,
 * LARS, both EMA updates) and resolves when it is done; `dispose()` frees everything.
 */
function buildStep(config, pairs, method) {
  const B = config.batch.size;
  const S = config.views.size;
  const nets = T.buildNetworks(config);
  const params = T.onlineParameters(nets.online);
  const vars = params.map((p) => p.variable);
  const lars = new T.Lars(params, { weightDecay: 1e-6 });
  const x = tf.randomNormal([2 * B, S, S, 3], 0, 1, 'float32', 1);
  const batch = aug.boxPairBatch(pairs);
  const reg = method === 'scrl' ? { boxes: batch.boxes, boxIndices: batch.boxIndices } : null;
  const R = method === 'scrl' ? batch.numPairs : B;
  const step = async () => {
    const z = T.targetForward(nets.target, x, reg);
    const { value, grads } = tf.variableGrads(() => {
      const q = T.onlineForward(nets.online, x, reg);
      const half = (t, i) => tf.slice(t, [i * R, 0], [R, -1]);
      const f = method === 'scrl' ? loss.scrlLoss : loss.byolLoss;
      return f(half(q, 0), half(q, 1), half(z, 0), half(z, 1));
    }, vars);
    await value.data();
    lars.step(grads, 0.05);
    T.updateMomentum(nets.target.backbone, nets.online.backbone, 0.99);
    T.updateMomentum(nets.target.projector, nets.online.projector, 0.99);
    tf.dispose([z, value, ...Object.values(grads)]);
  };
  const dispose = () => {
    tf.dispose([x, batch.boxes, batch.boxIndices]);
    lars.dispose();
    T.disposeNetworks(nets);
  };
  return { step, dispose };
}

/**
 * The same step on `threads` worker replicas (@scrl/trainer's ParallelStepper: the batch split
 * by images, gradients all-reduced over a SharedArrayBuffer): `step()` and `dispose()` as
 * {@link buildStep}. The views are the same seeded random normals.
 */
async function buildParallelStep(config, pairs, method, threads, options = {}) {
  const B = config.batch.size;
  const S = config.views.size;
  const c = T.applyOverrides(config, [`method=${method}`, 'optimizer.weightDecay=1e-6']);
  const model = T.createPretrainModel(c);
  const stepper = await T.ParallelStepper.start(model, c, threads, options);
  const x = tf.randomNormal([2 * B, S, S, 3], 0, 1, 'float32', 1);
  const data = x.dataSync();
  x.dispose();
  const n = B * S * S * 3;
  const batch = () => ({ view1: data.slice(0, n), view2: data.slice(n, 2 * n), size: S, batchSize: B, boxPairs: pairs });
  const step = async () => {
    await stepper.step([batch()], { lr: 0.05, momentum: 0.99 });
  };
  /** Replica 0's time in the last step's parts (ms): compute, gradient reduce-scatter (wait and sum), LARS + EMA of its share and the exchange. */
  const parts = () => stepper.replicaMilliseconds[0];
  /** Time (ms) to copy the replicas' weights and optimiser state to this thread (pullState). */
  const broadcastMs = async () => {
    const t0 = process.hrtime.bigint();
    await stepper.pullState(model);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  const dispose = async () => {
    await stepper.close();
    T.disposePretrainModel(model);
  };
  return { step, dispose, parts, broadcastMs };
}

/** The `cpu` preset at batch B and S px views, and its box pairs. */
function stepSetup(batch, size) {
  const config = T.applyOverrides(T.presetConfig('cpu'), [`batch.size=${batch}`, `views.size=${size}`]);
  const stride = 8; // ResNet with smallInput: C5 at stride 8
  const pairs = samplePairs(batch, size, config.boxes.minSize ?? stride);
  return { config, pairs, stride };
}

module.exports = { samplePairs, buildStep, buildParallelStep, stepSetup, root };
