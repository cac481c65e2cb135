#!/usr/bin/env node
/**
 * Where the multi-thread step's time goes, measured as CPU time so that it holds on a loaded
 * machine: the trainer's one-thread step (`pretrainStep`) in this thread against the same step
 * on N replicas (`ParallelStepper`, as `scrl pretrain --threads N` runs it), with each
 * replica's CPU time per part (forward + backward with the BatchNorm all-reduces in it; copying
 * and accumulating its gradients; the gradient all-reduce; LARS + EMA), its barriers (count,
 * wall and CPU time waiting), the bytes it moved through the shared buffers, and the time it
 * waited for a core. CPU times come from /proc/thread-self/schedstat (Linux).
 *
 *   npm run build && node tools/bench/step-threads.js [--methods scrl,byol] [--threads 2]
 *       [--steps 6] [--warmup 2] [--batch 32] [--size 32] [--backend wasm] [--local-batch-norm]
 *
 * The sum of the replicas' CPU times against the one-thread step's CPU time is the work the
 * split adds; a replica's compute CPU against the one-thread step's is how well the work splits.
 */
'use strict';
const os = require('node:os');

const { stepSetup, root } = require('./step-common');
const roi = require('@scrl/roi-align');
const T = require('@scrl/trainer');
const tf = require(require.resolve('@tensorflow/tfjs-core', { paths: [root] }));

function parseArgs(argv) {
  const o = { methods: 'scrl,byol', threads: 2, steps: 6, warmup: 2, batch: 32, size: 32, backend: 'wasm', localBatchNorm: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`step-threads bench: ${a} needs a value`);
      return argv[++i];
    };
    if (a === '--methods') o.methods = next();
    else if (a === '--threads') o.threads = Number(next());
    else if (a === '--steps') o.steps = Number(next());
    else if (a === '--warmup') o.warmup = Number(next());
    else if (a === '--batch') o.batch = Number(next());
    else if (a === '--size') o.size = Number(next());
    else if (a === '--backend') o.backend = next();
    else if (a === '--local-batch-norm') o.localBatchNorm = true;
    else throw new Error(`step-threads bench: unknown argument '${a}' (see the header of tools/bench/step-threads.js)`);
  }
  for (const k of ['threads', 'steps', 'batch', 'size']) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new Error(`step-threads bench: --${k} must be a positive integer, got ${o[k]}`);
  }
  if (o.threads < 2) throw new Error('step-threads bench: --threads must be at least 2');
  return o;
}

const cpuMs = () => {
  const t = T.threadCpuTime();
  if (!t) throw new Error('step-threads bench: /proc/thread-self/schedstat is not readable (Linux only)');
  return t.cpuNs / 1e6;
};
const processCpuMs = (since) => {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1000;
};
const f = (x) => x.toFixed(1).padStart(8);

/**
 * The one-thread step (`pretrainStep`): its CPU time, of which LARS (timed inside the step) and
 * the EMA update (timed once more after the step, with the same arguments).
 */
async function oneThread(c, batch, o) {
  const model = T.createPretrainModel(c);
  const parts = { step: 0, lars: 0, ema: 0 };
  let larsCpu = 0;
  const larsStep = model.lars.step.bind(model.lars);
  model.lars.step = (grads, lr) => {
    const c0 = cpuMs();
    larsStep(grads, lr);
    larsCpu += cpuMs() - c0;
  };
  let wall = 0;
  let processCpu = 0;
  for (let i = 0; i < o.warmup + o.steps; i++) {
    const timed = i >= o.warmup;
    larsCpu = 0;
    const w0 = performance.now();
    const p0 = process.cpuUsage();
    const c0 = cpuMs();
    await T.pretrainStep(model, [batch()], { lr: 0.05, momentum: 0.99 });
    const c1 = cpuMs();
    if (timed) {
      wall += (performance.now() - w0) / o.steps;
      processCpu += processCpuMs(p0) / o.steps;
    }
    const e0 = cpuMs();
    T.updateMomentum(model.nets.target.backbone, model.nets.online.backbone, 0.99);
    T.updateMomentum(model.nets.target.projector, model.nets.online.projector, 0.99);
    const e1 = cpuMs();
    if (timed) {
      parts.step += (c1 - c0) / o.steps;
      parts.lars += larsCpu / o.steps;
      parts.ema += (e1 - e0) / o.steps;
    }
  }
  T.disposePretrainModel(model);
  return { parts, wall, processCpu };
}

async function threaded(c, batch, o) {
  const model = T.createPretrainModel(c);
  const stepper = await T.ParallelStepper.start(model, c, o.threads, { syncBatchNorm: !o.localBatchNorm, profile: true });
  const sum = Array.from({ length: o.threads }, () => ({
    cpu: { compute: 0, gather: 0, allReduce: 0, update: 0 },
    wall: { compute: 0, gather: 0, allReduce: 0, update: 0 },
    runQueueMs: 0,
    collective: { barriers: 0, arrivedLast: 0, slept: 0, waitMs: 0, spinMs: 0, bnReductions: 0, bytes: 0 },
  }));
  let wall = 0;
  let mainCpu = 0;
  let processCpu = 0;
  for (let i = 0; i < o.warmup + o.steps; i++) {
    const timed = i >= o.warmup;
    const w0 = performance.now();
    const m0 = cpuMs();
    const p0 = process.cpuUsage();
    await stepper.step([batch()], { lr: 0.05, momentum: 0.99 });
    if (!timed) continue;
    processCpu += processCpuMs(p0) / o.steps;
    mainCpu += (cpuMs() - m0) / o.steps;
    wall += (performance.now() - w0) / o.steps;
    stepper.replicaProfiles.forEach((p, r) => {
      for (const k of ['cpu', 'wall']) for (const part of Object.keys(sum[r][k])) sum[r][k][part] += p[`${k}Ms`][part] / o.steps;
      sum[r].runQueueMs += p.runQueueMs / o.steps;
      for (const k of Object.keys(sum[r].collective)) sum[r].collective[k] += p.collective[k] / o.steps;
    });
  }
  await stepper.close();
  T.disposePretrainModel(model);
  return { replicas: sum, wall, mainCpu, processCpu };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const info = await roi.initBackend({ backend: o.backend, log: null });
  const { config, pairs } = stepSetup(o.batch, o.size);
  const x = tf.randomNormal([2 * o.batch, o.size, o.size, 3], 0, 1, 'float32', 1);
  const data = x.dataSync();
  x.dispose();
  const n = o.batch * o.size * o.size * 3;
  const batch = () => ({ view1: data.slice(0, n), view2: data.slice(n, 2 * n), size: o.size, batchSize: o.batch, boxPairs: pairs });
  console.log(
    `step-threads: ${roi.describeBackend(info)}; batch ${o.batch}, ${o.size} px, ${o.steps} steps after ${o.warmup} warm-up; ` +
      `load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}. CPU ms per step (thread CPU time), wall ms for reference.`,
  );
  for (const method of o.methods.split(',')) {
    const c = T.applyOverrides(config, [`method=${method}`, 'optimizer.weightDecay=1e-6']);
    const one = await oneThread(c, batch, o);
    const many = await threaded(c, batch, o);
    const oneTotal = one.parts.step;
    console.log(
      `\n${method.toUpperCase()}: 1 thread: CPU ${f(oneTotal)}, of which LARS ${f(one.parts.lars)} (and EMA, timed apart, ${f(one.parts.ema)}); ` +
        `whole process ${f(one.processCpu)} (other threads ${f(one.processCpu - oneTotal)}); wall ${f(one.wall)}`,
    );
    let replicaTotal = 0;
    many.replicas.forEach((r, rank) => {
      const total = r.cpu.compute + r.cpu.gather + r.cpu.allReduce + r.cpu.update;
      replicaTotal += total;
      const k = r.collective;
      console.log(
        `  replica ${rank}: CPU ${f(total)} = compute ${f(r.cpu.compute)} + gradients ${f(r.cpu.gather)} + all-reduce ${f(r.cpu.allReduce)} + LARS/EMA ${f(r.cpu.update)}; ` +
          `wall compute ${f(r.wall.compute)} gradients ${f(r.wall.gather)} all-reduce ${f(r.wall.allReduce)} LARS/EMA ${f(r.wall.update)}; run queue ${f(r.runQueueMs)}`,
      );
      console.log(
        `             barriers ${k.barriers.toFixed(0)} (BatchNorm ${k.bnReductions.toFixed(0)}; arrived last ${k.arrivedLast.toFixed(1)}, slept ${k.slept.toFixed(1)}), ` +
          `waiting ${f(k.waitMs)} ms wall, of which spinning ${f(k.spinMs)}; ${(k.bytes / 1e6).toFixed(2)} MB through shared memory`,
      );
    });
    console.log(
      `  ${o.threads} threads: replicas' CPU ${f(replicaTotal)} (${((100 * replicaTotal) / oneTotal).toFixed(0)} % of 1 thread); main thread ${f(many.mainCpu)}; ` +
        `whole process ${f(many.processCpu)} (other threads, mostly V8's GC and compiler: ${f(many.processCpu - replicaTotal - many.mainCpu)}); wall ${f(many.wall)}`,
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
