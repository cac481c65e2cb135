/**
 * Building one batch of view pairs: shared by the worker threads and the in-process mode
 * (`workers: 0`). Everything here is plain data so it crosses thread boundaries.
 */
import {
  createRng,
  createViewPipeline,
  sampleBoxPairs,
  type BoxPair,
  type BoxPairOptions,
  type RgbImage,
  type ViewGeometry,
  type ViewPipeline,
  type ViewPipelineOptions,
} from '@scrl/augment';
import { decodeImage } from './decode';

/** What every batch builder is configured with (sent to workers as workerData). */
export interface BatchConfig {
  seed: number | string;
  viewSize: number;
  pipeline: Omit<ViewPipelineOptions, 'viewSize'>;
  boxPairs: Omit<BoxPairOptions, 'viewSize'>;
}

export interface BatchJob {
  jobId: number;
  epoch: number;
  step: number;
  /** `file` names the image for logs and, without a `read` function, is decoded. */
  items: Array<{ index: number; file: string }>;
}

/** How a builder gets image `index` (named `file`): an ImageSource's `read`, or decoding the file. */
export type ReadImage = (index: number, file: string) => Promise<RgbImage>;

export interface BatchResult {
  jobId: number;
  epoch: number;
  step: number;
  view1: Float32Array;
  view2: Float32Array;
  geometry: Array<[ViewGeometry, ViewGeometry]>;
  boxPairs: BoxPair[][];
  indices: number[];
  skipped: Array<{ index: number; file: string; reason: string }>;
}

export interface BatchBuilder {
  build(job: BatchJob): Promise<BatchResult>;
}

/**
 * The random stream of image `index` in `epoch`: depends on (seed, epoch, index) only, so a
 * batch's contents do not depend on which worker made it or when.
 */
export function itemRng(seed: number | string, epoch: number, index: number) {
  return createRng(seed).fork('item').fork(epoch).fork(index);
}

export function createBatchBuilder(config: BatchConfig, read: ReadImage = (_, file) => decodeImage(file)): BatchBuilder {
  const S = config.viewSize;
  const pipeline: ViewPipeline = createViewPipeline({ ...config.pipeline, viewSize: S });
  const boxOptions: BoxPairOptions = { ...config.boxPairs, viewSize: S };
  const per = S * S * 3;
  return {
    async build(job: BatchJob): Promise<BatchResult> {
      let view1 = new Float32Array(job.items.length * per);
      let view2 = new Float32Array(job.items.length * per);
      const geometry: Array<[ViewGeometry, ViewGeometry]> = [];
      const boxPairs: BoxPair[][] = [];
      const indices: number[] = [];
      const skipped: BatchResult['skipped'] = [];
      for (const { index, file } of job.items) {
        let image;
        try {
          image = await read(index, file);
        } catch (err) {
          skipped.push({ index, file, reason: (err as Error).message });
          continue;
        }
        const rng = itemRng(config.seed, job.epoch, index);
        const [v1, v2] = await pipeline.viewPair(image, rng);
        const k = indices.length;
        view1.set(v1.pixels, k * per);
        view2.set(v2.pixels, k * per);
        geometry.push([v1.geometry, v2.geometry]);
        boxPairs.push(sampleBoxPairs(v1.geometry, v2.geometry, boxOptions, rng.fork('boxes')));
        indices.push(index);
      }
      if (indices.length < job.items.length) {
        view1 = view1.slice(0, indices.length * per);
        view2 = view2.slice(0, indices.length * per);
      }
      return { jobId: job.jobId, epoch: job.epoch, step: job.step, view1, view2, geometry, boxPairs, indices, skipped };
    },
  };
}
