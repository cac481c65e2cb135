/**
 * A short Markdown report per evaluation: what was evaluated, the COCO table, per-class AP,
 * the schedule, the loss curve's start and end, and a picture of validation detections.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatCocoStats } from '../coco/evaluate-coco';
import type { DetectionEvalResult } from '../detection/finetune';
import { drawDetections, type ImageDetections } from './draw';
import type { DetectionSample } from '../detection/finetune';

export interface WriteEvalReportOptions {
  /** Title line, e.g. "SCRL 200 ep, R18, scenes" (default "Detection fine-tuning"). */
  title?: string;
  /** Validation samples whose images go into the picture (the ones `result` was scored on). */
  val?: DetectionSample[];
  /** Images in the picture (default 8). */
  maxImages?: number;
  /** Minimum score drawn (default 0.3). */
  minScore?: number;
  /** Extra lines under the title (backbone, initialisation, backend...). */
  notes?: string[];
}

export interface EvalReportFiles {
  markdown: string;
  /** Present when `val` was given. */
  picture?: string;
}

function pct(v: number): string {
  return v < 0 ? 'n/a' : (100 * v).toFixed(1);
}

/**
 * Writes `report.md` (and `detections.png` when `options.val` is given) into `dir`,
 * creating it. Returns the paths written.
 */
export async function writeEvalReport(
  dir: string,
  result: DetectionEvalResult,
  options: WriteEvalReportOptions = {},
): Promise<EvalReportFiles> {
  await fs.promises.mkdir(dir, { recursive: true });
  const files: EvalReportFiles = { markdown: path.join(dir, 'report.md') };
  const names = result.groundTruth.categories.map((c) => String(c.name ?? c.id));
  const catIndex = new Map(result.groundTruth.categories.map((c, i) => [c.id, i]));
  if (options.val && options.val.length > 0) {
    const shown = options.val.slice(0, options.maxImages ?? 8);
    const items: ImageDetections[] = shown.map((s) => {
      const dets = result.detections.filter((d) => d.image_id === s.id);
      return {
        image: s.image,
        boxes: dets.map((d) => [d.bbox[0], d.bbox[1], d.bbox[0] + d.bbox[2], d.bbox[1] + d.bbox[3]]),
        labels: dets.map((d) => catIndex.get(d.category_id) ?? 0),
        scores: dets.map((d) => d.score),
      };
    });
    files.picture = path.join(dir, 'detections.png');
    await fs.promises.writeFile(files.picture, await drawDetections(items, { classNames: names, minScore: options.minScore }));
  }
  const c = result.config;
  const h = result.history;
  const s = result.coco.named;
  const lines = [
    `# ${options.title ?? 'Detection fine-tuning'}`,
    '',
    ...(options.notes ?? []).map((n) => `- ${n}`),
    ...(options.notes?.length ? [''] : []),
    `FCOS (FPN P3-P5, ${c.fpnChannels} channels, ${c.headConvs}-conv towers${c.headNorm === 'group' ? ' with GroupNorm' : ''}, ` +
      `centre sampling ${c.centerSampling}) fine-tuned for ${c.steps} steps, ` +
      `batch ${c.batchSize}, ${c.imageSize}x${c.imageSize} px, SGD lr ${c.lr} momentum ${c.momentum}, weight decay ${c.weightDecay}, ` +
      `warmup ${c.warmupSteps} steps, ${c.lrSchedule} decay, BatchNorm: ${c.bn}, flip p ${c.flipProb}, seed ${c.seed}.`,
    '',
    `| AP | AP50 | AP75 | APs | APm | APl |`,
    `|---|---|---|---|---|---|`,
    `| ${[s.AP, s.AP50, s.AP75, s.APs, s.APm, s.APl].map(pct).join(' | ')} |`,
    '',
    '```',
    formatCocoStats(result.coco.stats),
    '```',
    '',
    '| class | AP | AP50 |',
    '|---|---|---|',
    ...result.coco.perClass.map((p) => `| ${p.name} | ${pct(p.ap)} | ${pct(p.ap50)} |`),
    '',
    h.length > 0
      ? `Training loss ${h[0].loss.toFixed(4)} at step 1, ${h[h.length - 1].loss.toFixed(4)} at step ${h.length} ` +
        `(${(h[h.length - 1].elapsedMs / 1000).toFixed(1)} s).`
      : 'No training steps.',
    `Validation: ${result.groundTruth.images.length} images, ${result.groundTruth.annotations.length} boxes, ` +
      `${result.detections.length} detections.`,
    '',
  ];
  if (files.picture) lines.push(`![validation detections](${path.basename(files.picture)})`, '');
  await fs.promises.writeFile(files.markdown, lines.join('\n'));
  return files;
}
