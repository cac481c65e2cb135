/**
 * torchvision's `RandomResizedCrop.get_params`, step for step: 10 tries of (area scale
 * uniform, log-uniform aspect ratio, round half to even, random position), then the centre-crop
 * fallback. The draws are made in float32 where torchvision's are (`torch.empty(1).uniform_`,
 * `torch.log`/`torch.exp` of float32 tensors) so that the same uniforms give the same crop.
 */
import type { Rng } from '@scrl/util';
import { roundHalfEven } from './boxes';
import { ScrlError } from '@scrl/util';

export interface CropParams {
  top: number;
  left: number;
  height: number;
  width: number;
}

const f32 = Math.fround;

/**
 * Draws a crop of a `height x width` image covering `scale` of its area with aspect ratio
 * (width / height) in `ratio`, log-uniformly, exactly as torchvision 0.14's
 * `RandomResizedCrop.get_params` does; falls back to a centre crop after 10 failed tries.
 *
 * @param scale `[lo, hi]` fraction of the image area, default `[0.2, 1]` (SCRL; torchvision's is 0.08).
 * @param ratio `[lo, hi]` aspect ratio range, default `[3/4, 4/3]`.
 * @returns `{ top, left, height, width }` in integer pixels, inside the image.
 */
export function randomResizedCropParams(
  height: number,
  width: number,
  rng: Rng,
  scale: readonly [number, number] = [0.2, 1],
  ratio: readonly [number, number] = [3 / 4, 4 / 3],
): CropParams {
  if (!(Number.isInteger(height) && height > 0 && Number.isInteger(width) && width > 0)) {
    throw new ScrlError(`Error in randomResizedCropParams: image size must be positive integers, got ${height} x ${width}.`);
  }
  if (!(scale[0] > 0 && scale[0] <= scale[1])) {
    throw new ScrlError(`Error in randomResizedCropParams: scale must be [lo, hi] with 0 < lo <= hi, got [${scale}].`);
  }
  if (!(ratio[0] > 0 && ratio[0] <= ratio[1])) {
    throw new ScrlError(`Error in randomResizedCropParams: ratio must be [lo, hi] with 0 < lo <= hi, got [${ratio}].`);
  }
  const area = height * width;
  const logLo = f32(Math.log(f32(ratio[0])));
  const logHi = f32(Math.log(f32(ratio[1])));
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * f32(rng.uniform(scale[0], scale[1]));
    const aspect = f32(Math.exp(f32(rng.uniform(logLo, logHi))));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.int(0, height - h);
      const left = rng.int(0, width - w);
      return { top, left, height: h, width: w };
    }
  }
  const inRatio = width / height;
  let w: number;
  let h: number;
  if (inRatio < Math.min(ratio[0], ratio[1])) {
    w = width;
    h = roundHalfEven(w / Math.min(ratio[0], ratio[1]));
  } else if (inRatio > Math.max(ratio[0], ratio[1])) {
    h = height;
    w = roundHalfEven(h * Math.max(ratio[0], ratio[1]));
  } else {
    w = width;
    h = height;
  }
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}
