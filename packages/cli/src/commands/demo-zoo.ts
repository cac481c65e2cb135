/**
 * `scrl demo --from-zoo`: the zoo's pretrained backbones next to random init on the built-in
 * evaluation scenes: box probe and dense probe for every entry, detection where the budget
 * allows. Also the zoo comparison the plain demo shows when its own pretraining could not beat
 * random init within its budget.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadScenes } from '@scrl/data';
import { boxProbe, denseProbe, fineTuneDetection, loadDetectionSamples } from '@scrl/eval';
import type { BoxProbeResult, DenseProbeResult, DetectionFineTuneConfig } from '@scrl/eval';
import type { ResNet } from '@scrl/models';
import { formatDuration } from '@scrl/trainer';
import { commandLine, intOption, stringOption, type CommandContext, type CommandIO } from '../command';
import { UsageError } from '../errors';
import { backboneFromInit, builtinScenes, configFromFlags, setupBackend, timestampedDir, writeJson } from '../shared';
import { FIGURES_FILE, gitCommit, readVerifiedZoo, readZoo, readZooFigures, sha256File, ZooError, type ZooEntry, type ZooFigures } from '../zoo';
import { EVAL_SCENES, runDetection, splitSamples } from './eval';

function pct(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : (100 * v).toFixed(1);
}

/**
 * The short detection schedule of the demos (measured: docs/demo.md): SGD with cosine decay at
 * batch {@link DEMO_DETECTION_BATCH} and lr {@link DEMO_DETECTION_LR}, with a short warmup. At 600
 * steps from random init, lr 0.04 gave 11.1 AP against 9.0 at the documented schedule's 0.02 and
 * 10.5 at 0.08.
 */
export const DEMO_DETECTION_BATCH = 8;
export const DEMO_DETECTION_LR = 0.04;
export function demoDetectionConfig(steps: number): Partial<DetectionFineTuneConfig> {
  return { steps, batchSize: DEMO_DETECTION_BATCH, warmupSteps: Math.min(50, Math.floor(steps / 6)), lr: DEMO_DETECTION_LR };
}

interface ZooRow {
  name: string;
  method: string;
  steps: number;
  seed: number;
  sha256: string | null;
  box: BoxProbeResult;
  dense: DenseProbeResult;
  detectionAp: number | null;
}

/** The comparison table: one row per backbone, figures in %. */
export function zooTable(rows: ZooFigures['rows']): string[] {
  const w = Math.max(8, ...rows.map((r) => r.name.length));
  return [
    `| ${'backbone'.padEnd(w)} | method | steps | seed | box probe top-1 | box kNN top-1 | dense mIoU | detection AP |`,
    `|${'-'.repeat(w + 2)}|--------|------:|-----:|----------------:|--------------:|-----------:|-------------:|`,
    ...rows.map(
      (r) =>
        `| ${r.name.padEnd(w)} | ${r.method} | ${r.steps} | ${r.seed} | ${pct(r.boxProbeTop1)} | ${pct(r.boxProbeKnnTop1)} | ` +
        `${pct(r.denseProbeMiou)} | ${r.detectionAp === null ? 'not run' : pct(r.detectionAp)} |`,
    ),
  ];
}

/**
 * Sentences on each entry against random init of the same table (points of box probe, dense
 * probe, AP): the random init of the entry's own seed (the weights its pretraining started
 * from), else the table's first random init.
 */
export function zooVerdict(rows: ZooFigures['rows']): string[] {
  const randoms = rows.filter((r) => r.method === 'random init');
  if (!randoms.length) return [];
  const points = (a: number | null, b: number | null) => (a === null || b === null ? 'n/a' : `${a >= b ? '+' : ''}${(100 * (a - b)).toFixed(1)}`);
  return rows
    .filter((r) => r.method !== 'random init')
    .map((r) => {
      const random = randoms.find((x) => x.seed === r.seed) ?? randoms[0];
      const against = randoms.length > 1 ? `random init (seed ${random.seed})` : 'random init';
      return (
        `${r.name} (${r.method}, ${r.steps} steps, seed ${r.seed}) against ${against}: box probe ${points(r.boxProbeTop1, random.boxProbeTop1)}, ` +
        `dense probe ${points(r.denseProbeMiou, random.denseProbeMiou)}` +
        (r.detectionAp !== null && random.detectionAp !== null ? `, detection AP ${points(r.detectionAp, random.detectionAp)}` : '') +
        ' points.'
      );
    });
}

/**
 * What the zoo says, for the plain demo when its own pretraining did not beat random init: the
 * figures recorded by `scrl demo --from-zoo --record` (with their command; a row whose entry
 * changed since is marked), else the entries with the commands that made them.
 */
export function zooComparisonLines(zoo: string): string[] {
  let entries: ZooEntry[];
  try {
    entries = readZoo(zoo);
  } catch (err) {
    if (err instanceof ZooError) return [`No model zoo at '${zoo}' to compare with (${err.message.split(';')[0]}).`];
    throw err;
  }
  const figures = readZooFigures(zoo);
  if (figures) {
    const current = new Map(entries.map((e) => [e.manifest.name, e.manifest.sha256]));
    const rows = figures.rows.map((r) =>
      r.sha256 !== null && current.get(r.name) !== r.sha256 ? { ...r, name: `${r.name} (entry changed since)` } : r,
    );
    return [
      `The comparison at pretraining lengths the budget cannot afford, from the model zoo (${path.join(zoo, FIGURES_FILE)}, ` +
        `measured ${figures.measuredAt} at commit ${figures.commit ?? 'unknown'} by \`${figures.command}\`; ` +
        `each entry's pretraining command is in ${zoo}/<name>.json):`,
      '',
      ...zooTable(rows),
      '',
      ...zooVerdict(figures.rows),
      ...(figures.detection ? [figures.detection.note] : []),
    ];
  }
  return [
    `The model zoo (${zoo}) holds backbones pretrained long enough to compare; evaluate them with \`scrl demo --from-zoo\`:`,
    '',
    ...entries.map((e) => `- ${e.manifest.name}: ${e.manifest.method}, ${e.manifest.steps} steps, seed ${e.manifest.seed}, made by \`${e.manifest.command}\``),
  ];
}

const RESULTS_ROWS: Array<{ key: string; label: string }> = [
  { key: 'detectionFrozen', label: 'frozen backbone (1600 labelled scenes)' },
  { key: 'detectionFewLabels', label: '160 labelled scenes, whole network' },
  { key: 'detection', label: '1600 labelled scenes, whole network' },
];

/**
 * The detection comparison over pretraining seeds from `results` (docs/results.json, written by
 * `node tools/experiments/results.js`): per setting, the mean AP of random init, BYOL and SCRL
 * over the seeds with all three, and in how many of them random < BYOL < SCRL. [] when the file
 * does not exist; one line saying so when it cannot be read.
 */
export function resultsSummaryLines(results: string): string[] {
  if (!fs.existsSync(results)) return [];
  const unreadable = (why: string) => [`(${results} could not be read: ${why}; regenerate it with \`node tools/experiments/results.js --stage report\`.)`];
  let data: Record<string, Record<string, { ap?: Array<number | null> }>>;
  try {
    data = JSON.parse(fs.readFileSync(results, 'utf8'));
  } catch (err) {
    return unreadable((err as Error).message);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return unreadable('it does not hold a JSON object');
  const pretraining = (data as { protocol?: { pretraining?: unknown } }).protocol?.pretraining;
  const steps = typeof pretraining === 'string' ? /(\d+) steps/.exec(pretraining)?.[1] : undefined;
  const rows: string[] = [];
  for (const { key, label } of RESULTS_ROWS) {
    const per = data[key];
    const ap = (init: string): Array<number | null> => (Array.isArray(per?.[init]?.ap) ? per[init].ap! : []);
    const [r, b, s] = [ap('random'), ap('byol'), ap('scrl')];
    const seeds = r.map((_, i) => i).filter((i) => [r[i], b[i], s[i]].every((v) => typeof v === 'number' && Number.isFinite(v)));
    if (seeds.length === 0) continue;
    const mean = (v: Array<number | null>) => (seeds.reduce((a, i) => a + (v[i] as number), 0) / seeds.length).toFixed(1);
    const ordered = seeds.filter((i) => (r[i] as number) < (b[i] as number) && (b[i] as number) < (s[i] as number)).length;
    const best = [
      ['random init', mean(r)],
      ['BYOL', mean(b)],
      ['SCRL', mean(s)],
    ].sort((x, y) => Number(y[1]) - Number(x[1]))[0][0];
    rows.push(`- ${label}: random ${mean(r)}, BYOL ${mean(b)}, SCRL ${mean(s)} AP; random < BYOL < SCRL in ${ordered} of ${seeds.length} seeds; best on average: ${best}`);
  }
  if (rows.length === 0) return [];
  return [`Detection after ${steps ? `${steps} ` : ''}pretraining steps, mean over pretraining seeds (${results}; docs/results.md has every seed and the paired differences):`, ...rows];
}

/** The demo's clock from now and its budget in seconds (`--minutes`, default 12), for both demos. */
export function demoBudget(values: CommandContext['values']): { elapsed: () => number; budgetSeconds: number } {
  const started = Date.now();
  const minutesText = stringOption(values, 'minutes') ?? '12';
  const minutes = Number(minutesText);
  if (!(minutes > 0)) throw new UsageError(`--minutes must be a number > 0, got '${minutesText}'`, 'demo');
  return { elapsed: () => (Date.now() - started) / 1000, budgetSeconds: minutes * 60 };
}

/** `scrl demo --from-zoo`. */
export async function runZooDemo({ values, io, argv }: CommandContext): Promise<void> {
  const { elapsed, budgetSeconds } = demoBudget(values);
  const zoo = stringOption(values, 'zoo') ?? 'zoo';
  const fixedDetection = intOption(values, 'detection-steps', 0);
  const out = stringOption(values, 'out') ?? timestampedDir('demo-zoo');
  if (fs.existsSync(out) && fs.readdirSync(out).length > 0) throw new UsageError(`--out: '${out}' exists and is not empty; choose a new folder`, 'demo');
  const entries = readVerifiedZoo(zoo);
  if (!entries.length) throw new ZooError(`zoo '${zoo}' has no entries; add one with 'scrl zoo add --from CKPT.json' or 'scrl zoo build'.`);
  const backend = await setupBackend(values, io);
  fs.mkdirSync(out, { recursive: true });

  // The built-in evaluation scenes (1000, as scrl eval box-probe), split as every evaluator splits
  // them: the probes and the detector learn on the first 80 % and are scored on the rest.
  const scenes = await builtinScenes(values, io, { images: intOption(values, 'scenes', 10) ?? EVAL_SCENES.images, size: EVAL_SCENES.size });
  const dir = scenes.dir;
  const dataset = await loadScenes(dir);
  const samples = await loadDetectionSamples(dataset, { limit: intOption(values, 'images', 10) });
  const { train, val: test } = splitSamples(samples, 0.2);
  const categories = dataset.categories;
  io.err(`[scrl] demo --from-zoo: ${entries.length} zoo entries and random init; probes on ${train.length} train / ${test.length} held-out images of ${dir}`);

  // Random init in each architecture and seed the zoo holds, first: each entry's pretraining
  // started from the random init of its own seed, so that is the one it is compared with.
  const randomKeys = [
    ...new Map(entries.map((e) => [JSON.stringify([e.manifest.architecture, e.manifest.seed]), { a: e.manifest.architecture, seed: e.manifest.seed }])).values(),
  ];
  const manyArchs = new Set(entries.map((e) => JSON.stringify(e.manifest.architecture))).size > 1;
  const manySeeds = new Set(entries.map((e) => e.manifest.seed)).size > 1;
  const inits: Array<{ name: string; method: string; steps: number; seed: number; sha256: string | null; build: () => ResNet }> = [
    ...randomKeys.map(({ a, seed }) => ({
      name: `random${manyArchs ? `-r${a.depth}w${a.baseWidth}` : ''}${manySeeds ? `-s${seed}` : ''}`,
      method: 'random init',
      steps: 0,
      seed,
      sha256: null,
      build: () =>
        backboneFromInit(
          'random',
          configFromFlags({ set: [`model.depth=${a.depth}`, `model.smallInput=${a.smallInput}`, `model.baseWidth=${a.baseWidth}`, `seed=${seed}`] }),
          quiet(io),
        ).model,
    })),
    ...entries.map((e) => ({
      name: e.manifest.name,
      method: e.manifest.method,
      steps: e.manifest.steps,
      seed: e.manifest.seed,
      sha256: e.manifest.sha256,
      build: () => backboneFromInit(e.weightsPath, configFromFlags({}), quiet(io)).model,
    })),
  ];
  const rows: ZooRow[] = [];
  for (let i = 0; i < inits.length; i++) {
    const init = inits[i];
    const model = init.build();
    try {
      const box = boxProbe(model, train, test, categories);
      const dense = denseProbe(model, train, test, categories);
      rows.push({ ...init, box, dense, detectionAp: null });
      io.err(
        `[scrl] demo --from-zoo ${i + 1}/${inits.length}: ${init.name} (${init.method}, ${init.steps} steps, seed ${init.seed}): ` +
          `box probe ${pct(box.top1)}, dense mIoU ${pct(dense.miou)} (${(box.seconds.total + dense.seconds.total).toFixed(0)} s; ` +
          `${formatDuration(elapsed())} of ${formatDuration(budgetSeconds)} used)`,
      );
    } finally {
      model.dispose();
    }
  }

  // Detection where the budget allows: the demo's short schedule on the detection scenes, the
  // same number of steps for every backbone, planned from a timing of a few steps.
  let detection: ZooFigures['detection'] = null;
  let steps = fixedDetection;
  if (steps === 0) detection = { steps: 0, note: 'Detection not run (--detection-steps 0).' };
  if (steps === undefined) {
    const model = inits[0].build();
    const stamps: number[] = [];
    try {
      const r = fineTuneDetection({
        backbone: model,
        categories: categories.map((c) => ({ id: c.id, name: c.name })),
        train,
        val: test.slice(0, 8),
        config: { ...demoDetectionConfig(3), warmupSteps: 0 },
        onStep: () => stamps.push(Date.now()),
      });
      r.detector.dispose();
    } finally {
      model.dispose();
    }
    const perStep = Math.max(...stamps.slice(1).map((t, k) => (t - stamps[k]) / 1000));
    const evalSeconds = 0.05 * test.length;
    const left = budgetSeconds - elapsed() - inits.length * evalSeconds - 10;
    steps = Math.max(0, Math.floor(left / (inits.length * perStep)));
    io.err(`[scrl] demo --from-zoo: detection ${perStep.toFixed(2)} s/step; ${formatDuration(Math.max(0, left))} left -> ${steps} steps per backbone`);
    if (steps < DEMO_MIN_DETECTION_STEPS) {
      detection = {
        steps: 0,
        note:
          `Detection not run: the budget left affords ${steps} steps per backbone, below the ${DEMO_MIN_DETECTION_STEPS} at which random init's AP ` +
          `is clearly above 0 (docs/demo.md); pass --minutes or --detection-steps N.`,
      };
      steps = 0;
    }
  }
  if (steps > 0) {
    for (let i = 0; i < inits.length; i++) {
      const init = inits[i];
      io.err(`[scrl] demo --from-zoo: detection from ${init.name} (${i + 1}/${inits.length}), ${steps} steps`);
      const model = init.build();
      try {
        const result = await runDetection({
          io,
          backbone: model,
          dataset,
          train,
          val: test,
          config: demoDetectionConfig(steps),
          out: path.join(out, 'detection', init.name),
          title: `Detection fine-tuning from ${init.name}`,
          notes: [`backbone: ${init.name} (${init.method}, ${init.steps} steps, seed ${init.seed})`, `backend: ${backend}`],
        });
        rows[i].detectionAp = result.coco.named.AP;
      } finally {
        model.dispose();
      }
    }
    detection = {
      steps,
      note:
        `Detection: FCOS fine-tuned ${steps} steps from each backbone (lr ${DEMO_DETECTION_LR}, batch ${DEMO_DETECTION_BATCH}, ${train.length} train / ` +
        `${test.length} held-out scenes), one seed: far shorter than the documented schedule (1500 steps, docs/evaluators.md).`,
    };
  }

  const figureRows: ZooFigures['rows'] = rows.map((r) => ({
    name: r.name,
    method: r.method,
    steps: r.steps,
    seed: r.seed,
    sha256: r.sha256,
    boxProbeTop1: r.box.top1,
    boxProbeKnnTop1: r.box.knnTop1,
    denseProbeMiou: r.dense.miou,
    detectionAp: r.detectionAp,
  }));
  const figures: ZooFigures = {
    command: commandLine(argv ?? ['demo', '--from-zoo']),
    commit: gitCommit(),
    measuredAt: new Date().toISOString(),
    backend,
    data: dir,
    rows: figureRows,
    detection,
  };
  const table = zooTable(figureRows);
  const verdict = zooVerdict(figureRows);
  writeJson(path.join(out, 'zoo-demo.json'), figures);
  const report = [
    '# SCRL demo: the model zoo against random init',
    '',
    `Zoo ${path.resolve(zoo)}; built-in evaluation scenes (${dir}, ${train.length} train / ${test.length} held-out images); ` +
      `backend ${backend}; wall time ${formatDuration(elapsed())} (budget ${formatDuration(budgetSeconds)}).`,
    '',
    'Box probe: every ground-truth box pooled 2x2 from frozen C4 and C5, logistic regression (and kNN) top-1 on the held-out objects. ' +
      'Dense probe: class-or-background of every C4 cell, linear head on frozen C4 + upsampled C5, mIoU over background and the classes. ' +
      'BatchNorm statistics recomputed for every backbone (docs/evaluators.md). Figures in %.',
    '',
    ...table,
    '',
    ...verdict.flatMap((l) => [l, '']),
    detection?.note ?? '',
    '',
    '## Entries',
    '',
    ...entries.map(
      (e) =>
        `- **${e.manifest.name}**: ${e.manifest.method}, ${e.manifest.steps}${e.manifest.totalSteps ? ` of ${e.manifest.totalSteps}` : ''} steps, ` +
        `seed ${e.manifest.seed}, sha256 ${e.manifest.sha256}; made by \`${e.manifest.command}\` at commit ${e.manifest.commit.sha ?? 'unknown'}.`,
    ),
    '',
  ].join('\n');
  fs.writeFileSync(path.join(out, 'report.md'), report);
  if (values.record === true) {
    // The weights must still be the ones measured.
    for (const e of entries) if (sha256File(e.weightsPath) !== e.manifest.sha256) throw new ZooError(`zoo entry '${e.manifest.name}' changed during the demo; not recording.`);
    writeJson(path.join(zoo, FIGURES_FILE), figures);
    io.err(`[scrl] demo --from-zoo: recorded the figures in ${path.join(zoo, FIGURES_FILE)}`);
  }
  for (const line of table) io.out(line);
  io.out('');
  for (const line of verdict) io.out(line);
  if (detection) io.out(detection.note);
  io.err(`[scrl] demo --from-zoo done in ${formatDuration(elapsed())}; report: ${path.resolve(out, 'report.md')}`);
}

/**
 * Steps of the demo's detection schedule at which random init's AP is clearly above 0: 11.1 AP
 * (AP50 24.7) after 600 steps at batch 8, lr 0.04, on the demo's 400 training scenes (docs/demo.md).
 */
export const DEMO_MIN_DETECTION_STEPS = 600;
/** What random init reached at {@link DEMO_MIN_DETECTION_STEPS}, for the demo's messages. */
export const DEMO_MIN_DETECTION_AP = '11.1 AP after 600';

function quiet(io: CommandIO): CommandIO {
  return { out: io.out, err: () => undefined, isTTY: false };
}
