/**
 * A fine-tuning learning rate chosen per initialisation (docs/evaluators.md, "Detection"): one
 * learning rate for every initialisation can favour one of them (pretraining changes the
 * weight norms, and under BatchNorm the norm sets the effective step size). The sweep fine-tunes
 * a fresh copy of the initialisation at each candidate learning rate on the training scenes
 * minus a validation split carved from their end, scores each on that split, and keeps the
 * best. The test scenes are never seen: the caller passes only its training samples.
 */
import type { Backbone } from '../backbone';
import { fineTuneDetection, type DetectionCategory, type DetectionFineTuneConfig, type DetectionSample, type DetectionStepInfo } from './finetune';

export interface DetectionLrSweepInput {
  /** A fresh copy of the initialisation for each run (each run trains it in place; the sweep disposes it). */
  makeBackbone: () => Backbone;
  categories: DetectionCategory[];
  /** The training samples; the last `valFraction` of them choose the learning rate. */
  train: DetectionSample[];
  /** Candidate peak learning rates, each > 0. */
  lrs: number[];
  /** Fraction of `train` held out to choose on (default 0.2; rounded, at least one sample). */
  valFraction?: number;
  /** The schedule of every sweep run (its `lr` is replaced by each candidate). */
  config?: Partial<DetectionFineTuneConfig>;
  /** Called when a run starts and after each of its steps. */
  onRunStart?: (run: { index: number; lr: number }) => void;
  onStep?: (info: DetectionStepInfo & { lr: number }) => void;
}

export interface DetectionLrSweepRun {
  lr: number;
  /** COCO AP@[.5:.95] and AP50 on the validation split (fractions). */
  ap: number;
  ap50: number;
}

export interface DetectionLrSweepResult {
  /** The candidate with the highest validation AP (the first of equals, in `lrs` order). */
  chosenLr: number;
  runs: DetectionLrSweepRun[];
  /** Sizes of the sweep's own split of `train`. */
  sweepTrain: number;
  sweepVal: number;
}

/** Splits `train` into the sweep's fit and choose sets: the last `valFraction` (at least one) choose. */
export function carveValidation<T>(train: T[], valFraction: number): { fit: T[]; choose: T[] } {
  const fn = 'carveValidation';
  if (!(valFraction > 0 && valFraction < 1)) throw new Error(`${fn}: valFraction must be in (0, 1), got ${valFraction}.`);
  const n = Math.max(1, Math.round(train.length * valFraction));
  if (train.length - n < 1) {
    throw new Error(`${fn}: ${train.length} training samples leave none to fit after holding out ${n}; use more training data.`);
  }
  return { fit: train.slice(0, train.length - n), choose: train.slice(train.length - n) };
}

/** Runs the sweep (see the module comment). */
export function sweepDetectionLr(input: DetectionLrSweepInput): DetectionLrSweepResult {
  const fn = 'sweepDetectionLr';
  if (!Array.isArray(input.lrs) || input.lrs.length === 0) throw new Error(`${fn}: lrs must list at least one learning rate.`);
  input.lrs.forEach((lr) => {
    if (!(lr > 0) || !Number.isFinite(lr)) throw new Error(`${fn}: every learning rate must be a finite number > 0, got ${lr}.`);
  });
  const { fit, choose } = carveValidation(input.train, input.valFraction ?? 0.2);
  const runs: DetectionLrSweepRun[] = [];
  input.lrs.forEach((lr, index) => {
    input.onRunStart?.({ index, lr });
    const backbone = input.makeBackbone();
    try {
      const result = fineTuneDetection({
        backbone,
        categories: input.categories,
        train: fit,
        val: choose,
        config: { ...(input.config ?? {}), lr },
        onStep: input.onStep ? (info) => input.onStep!({ ...info, lr }) : undefined,
      });
      result.detector.dispose();
      runs.push({ lr, ap: result.coco.named.AP, ap50: result.coco.named.AP50 });
    } finally {
      backbone.dispose();
    }
  });
  let best = runs[0];
  for (const r of runs) if (r.ap > best.ap) best = r;
  return { chosenLr: best.lr, runs, sweepTrain: fit.length, sweepVal: choose.length };
}
