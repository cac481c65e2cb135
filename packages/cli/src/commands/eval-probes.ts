/**
 * `scrl eval box-probe` and `scrl eval dense-probe`: the frozen local probes of @scrl/eval on a
 * COCO folder (default: the built-in evaluation scenes, split as `scrl eval detection` splits them).
 */
import * as path from 'node:path';
import * as fs from 'node:fs';
import { boxProbe, denseProbe, loadDetectionSamples } from '@scrl/eval';
import type { BoxProbeResult, DenseProbeResult, DetectionSample } from '@scrl/eval';
import type { DetectionDataset } from '@scrl/data';
import { intOption, stringOption, type Command, type CommandContext, type CommandIO, type OptionSpec } from '../command';
import { UsageError } from '../errors';
import { backboneFromInit, CACHE_OPTION, CONFIG_OPTIONS, configFromFlags, setupBackend, timestampedDir, writeJson } from '../shared';
import { detectionData, splitSamples } from './eval';

function pct(v: number): string {
  return Number.isFinite(v) ? (100 * v).toFixed(1) : 'n/a';
}

/** Train / held-out images of `--data` with the detection command's split (`--val`, `--limit`). */
async function probeSamples(
  values: CommandContext['values'],
  io: CommandIO,
  name: string,
): Promise<{ dir: string; dataset: DetectionDataset; train: DetectionSample[]; test: DetectionSample[] }> {
  const valText = stringOption(values, 'val') ?? '0.2';
  const valFraction = Number(valText);
  if (!(valFraction > 0 && valFraction < 1)) throw new UsageError(`--val must be a fraction in (0, 1), got '${valText}'`, name);
  const limit = intOption(values, 'limit', 2);
  const { dir, dataset } = await detectionData(values, io);
  const samples = await loadDetectionSamples(dataset, { limit });
  const { train, val } = splitSamples(samples, valFraction);
  return { dir, dataset, train, test: val };
}

const SHARED_OPTIONS: OptionSpec[] = [
  { name: 'data', type: 'string', valueName: 'DIR', description: 'COCO folder (annotations.json)', defaultText: 'built-in scenes' },
  { name: 'out', type: 'string', valueName: 'DIR', description: 'report folder (report.md, metrics.json)', defaultText: 'runs/eval-<probe>-<timestamp>' },
  { name: 'val', type: 'string', valueName: 'F', description: 'fraction of images held out (the last ones), as eval detection', defaultText: '0.2' },
  { name: 'limit', type: 'string', valueName: 'N', description: 'use only the first N images', defaultText: 'all' },
  {
    name: 'bn-images',
    type: 'string',
    valueName: 'N',
    description: 'training images whose forward passes recompute the BatchNorm statistics (0: keep)',
    defaultText: '256',
  },
];

/** Rows of the box-probe table, shared with `scrl demo` and tools/experiments/evaluators.js. */
export function boxProbeTable(rows: Array<{ init: string; result: BoxProbeResult }>): string[] {
  const width = Math.max(4, ...rows.map((r) => r.init.length));
  return [
    `| ${'init'.padEnd(width)} | pool | objects (train / test) | logistic top-1 | kNN top-1 | L2 |`,
    `|${'-'.repeat(width + 2)}|-----:|-----------------------:|---------------:|----------:|---:|`,
    ...rows.map(
      ({ init, result: r }) =>
        `| ${init.padEnd(width)} | ${r.features === 'raw-pixels' ? `${r.poolSize}px` : r.poolSize} | ${r.trainObjects} / ${r.testObjects} | ${pct(r.top1)} | ${pct(r.knnTop1)} | ${r.lambda} |`,
    ),
  ];
}

export function denseProbeTable(rows: Array<{ init: string; result: DenseProbeResult }>): string[] {
  const width = Math.max(4, ...rows.map((r) => r.init.length));
  const classes = rows[0]?.result.classes ?? [];
  return [
    `| ${'init'.padEnd(width)} | mIoU | cell acc. | ${classes.map((c) => `IoU ${c}`).join(' | ')} |`,
    `|${'-'.repeat(width + 2)}|-----:|----------:|${classes.map(() => '---:').join('|')}|`,
    ...rows.map(
      ({ init, result: r }) => `| ${init.padEnd(width)} | ${pct(r.miou)} | ${pct(r.accuracy)} | ${r.iou.map((v) => pct(v)).join(' | ')} |`,
    ),
  ];
}

export const evalBoxProbe: Command = {
  name: 'eval box-probe',
  summary: 'classify ground-truth boxes from frozen C4 + C5 (RoIAlign k x k): logistic regression and kNN top-1',
  description:
    'Every ground-truth box of --data (default the built-in scenes; the last --val fraction of the\n' +
    'images is held out, as in eval detection) is pooled with RoIAlign to k x k on the frozen C4\n' +
    'and C5, after the BatchNorm statistics were recomputed on --bn-images training images. A\n' +
    'logistic regression (L2 penalty chosen on every 5th training object) and a kNN (k = 20)\n' +
    'classify the held-out objects. --init raw-pixels uses the box resized to 8x8 RGB instead.\n' +
    'See docs/evaluators.md.',
  options: [
    {
      name: 'init',
      type: 'string',
      valueName: 'INIT',
      description: 'random, raw-pixels, a pretrain run folder / ckpt-*.json, or torchvision .safetensors',
      defaultText: 'random',
    },
    { name: 'pool', type: 'string', valueName: 'K', description: 'RoIAlign output side (K x K cells per map)', defaultText: '2' },
    ...SHARED_OPTIONS,
    ...CONFIG_OPTIONS,
    CACHE_OPTION,
  ],
  examples: ['scrl eval box-probe --init random', 'scrl eval box-probe --init raw-pixels', 'scrl eval box-probe --init r18.safetensors --pool 1'],
  async run({ values, io }) {
    const init = stringOption(values, 'init') ?? 'random';
    const poolSize = intOption(values, 'pool', 1) ?? 2;
    const bnImages = intOption(values, 'bn-images', 0) ?? 256;
    const fallback = configFromFlags(values);
    const out = stringOption(values, 'out') ?? timestampedDir('eval-box-probe');
    const backend = await setupBackend(values, io);
    const { dir, dataset, train, test } = await probeSamples(values, io, 'eval box-probe');
    const built = init === 'raw-pixels' ? null : backboneFromInit(init, fallback, io);
    try {
      io.err(`[scrl] box probe: ${train.length} train / ${test.length} held-out images from ${dir}`);
      const result = boxProbe(built ? built.model : 'raw-pixels', train, test, dataset.categories, { poolSize, batchNormImages: bnImages });
      const table = boxProbeTable([{ init, result }]);
      writeReport(out, 'box-probe', init, built?.description ?? 'raw pixels of the box, 8x8 RGB', dir, backend, table, result);
      for (const line of table) io.out(line);
      io.err(`[scrl] box probe took ${result.seconds.total.toFixed(1)} s; report: ${path.resolve(out, 'report.md')}`);
    } finally {
      built?.model.dispose();
    }
  },
};

export const evalDenseProbe: Command = {
  name: 'eval dense-probe',
  summary: 'class-or-background of every C4 cell from frozen C4 + upsampled C5 with a linear head: mIoU',
  description:
    'Each cell of C4 (stride 4 with the small-input stem) of --data (default the built-in scenes,\n' +
    'split as in eval detection) gets the class of the smallest ground-truth box holding its\n' +
    'centre, or background. A linear head on frozen C4 + bilinearly upsampled C5 (BatchNorm\n' +
    'statistics recomputed on --bn-images training images) learns it; mIoU over background and\n' +
    'the classes on the held-out images. See docs/evaluators.md.',
  options: [
    {
      name: 'init',
      type: 'string',
      valueName: 'INIT',
      description: 'random, a pretrain run folder / ckpt-*.json, or torchvision .safetensors',
      defaultText: 'random',
    },
    ...SHARED_OPTIONS,
    ...CONFIG_OPTIONS,
    CACHE_OPTION,
  ],
  examples: ['scrl eval dense-probe --init random', 'scrl eval dense-probe --init runs/pretrain-2026-01-01T00-00-00'],
  async run({ values, io }) {
    const init = stringOption(values, 'init') ?? 'random';
    if (init === 'raw-pixels') throw new UsageError('--init raw-pixels is a box-probe baseline; the dense probe needs a backbone.', 'eval dense-probe');
    const bnImages = intOption(values, 'bn-images', 0) ?? 256;
    const fallback = configFromFlags(values);
    const out = stringOption(values, 'out') ?? timestampedDir('eval-dense-probe');
    const backend = await setupBackend(values, io);
    const { dir, dataset, train, test } = await probeSamples(values, io, 'eval dense-probe');
    const { model, description } = backboneFromInit(init, fallback, io);
    try {
      io.err(`[scrl] dense probe: ${train.length} train / ${test.length} held-out images from ${dir}`);
      const result = denseProbe(model, train, test, dataset.categories, { batchNormImages: bnImages });
      const table = denseProbeTable([{ init, result }]);
      writeReport(out, 'dense-probe', init, description, dir, backend, table, result);
      for (const line of table) io.out(line);
      io.err(`[scrl] dense probe took ${result.seconds.total.toFixed(1)} s; report: ${path.resolve(out, 'report.md')}`);
    } finally {
      model.dispose();
    }
  },
};

function writeReport(
  out: string,
  kind: 'box-probe' | 'dense-probe',
  init: string,
  description: string,
  dir: string,
  backend: string,
  table: string[],
  result: BoxProbeResult | DenseProbeResult,
): void {
  fs.mkdirSync(out, { recursive: true });
  writeJson(path.join(out, 'metrics.json'), { kind, init, data: dir, backend, result });
  fs.writeFileSync(
    path.join(out, 'report.md'),
    [
      `# ${kind === 'box-probe' ? 'Box probe' : 'Dense probe'}: ${init}`,
      '',
      `- features: ${description}`,
      `- data: ${dir}`,
      `- backend: ${backend}`,
      `- time: ${result.seconds.total.toFixed(1)} s (BatchNorm ${result.seconds.batchNorm.toFixed(1)}, features ${result.seconds.features.toFixed(1)}, classifier ${result.seconds.classifier.toFixed(1)})`,
      '',
      ...table,
      '',
    ].join('\n'),
  );
}
