import type { RgbImage } from '@scrl/augment';
import { applyOverrides, presetConfig } from '../index';
import type { TrainConfig } from '../index';

/** Small synthetic images: smooth colour ramps with a bright square whose place depends on i. */
export function syntheticImages(n: number, size = 40): RgbImage[] {
  return Array.from({ length: n }, (_, i) => {
    const data = new Uint8Array(size * size * 3);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const o = (y * size + x) * 3;
        const inSquare = Math.abs(x - ((7 * i) % size)) < 6 && Math.abs(y - ((11 * i) % size)) < 6;
        data[o] = inSquare ? 250 : (x * 6 + i * 20) % 256;
        data[o + 1] = inSquare ? 240 : (y * 5 + i * 35) % 256;
        data[o + 2] = ((x + y) * 3 + i * 50) % 256;
      }
    }
    return { data, width: size, height: size };
  });
}

/**
 * A tiny SCRL config: ResNet-18 of width 4 on 16 px views (C5 2x2 at stride 8, boxes of one
 * 8 px cell), 4 images per step, 4 steps. Per-op overhead dominates at this size, so every
 * step costs seconds on the cpu backend: keep the step counts low.
 */
export function tinyConfig(extra: string[] = []): TrainConfig {
  return applyOverrides(presetConfig('cpu'), [
    'model.baseWidth=4',
    'model.projector.hiddenDim=16',
    'model.projector.outDim=8',
    'model.predictor.hiddenDim=16',
    'views.size=16',
    'batch.size=4',
    'schedule.steps=4',
    'schedule.warmupSteps=2',
    'checkpoint.every=2',
    ...extra,
  ]);
}
