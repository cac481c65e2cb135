/**
 * torchvision's ResNet (`torchvision/models/resnet.py`, v1.5: stride in the bottleneck's 3x3
 * conv) built from tfjs-core ops, in NHWC.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BatchNorm, Conv2d, Linear, SeedSequence, type HasBatchNorms, type LayerState } from './layers';
import type { Module, NamedBuffer, NamedParameter } from './module';
import { ScrlError } from '@scrl/util';

export type ResNetDepth = 18 | 34 | 50 | 101;

export interface ResNetOptions {
  /** 18 and 34 use basic blocks, 50 and 101 bottlenecks (expansion 4). */
  depth: ResNetDepth;
  /**
   * CIFAR-style stem for small images: a 3x3 stride-1 conv and no max-pool, so every stage
   * keeps 4x more resolution (strides c2..c5 = 1, 2, 4, 8 instead of 4, 8, 16, 32). Such a
   * model has a 3x3 `conv1.weight` and cannot load torchvision's stem weights. Default false.
   */
  smallInput?: boolean;
  /**
   * Channels of the stem and of stage 1 (torchvision: 64). Stages have baseWidth x (1, 2, 4, 8)
   * planes; bottlenecks output 4x that. Smaller values (16, 32) make CPU-scale experiments
   * cheaper; only 64 matches torchvision's weights. Default 64.
   */
  baseWidth?: number;
  /** Seed for the initialisers; two models built with the same options and seed are equal. */
  seed?: number;
  /** Adds torchvision's `fc` classifier (Linear(featureDim, numClasses)) and `classify`. */
  numClasses?: number;
}

export interface FeatureMaps {
  c2: tf.Tensor4D;
  c3: tf.Tensor4D;
  c4: tf.Tensor4D;
  c5: tf.Tensor4D;
  /** Global average pool of c5: [N, featureDim]. */
  pooled: tf.Tensor2D;
}

export interface ForwardOptions {
  /** true: BatchNorm uses batch statistics and updates its running statistics. */
  training: boolean;
}

export interface ResNet extends Module, HasBatchNorms {
  readonly depth: ResNetDepth;
  readonly smallInput: boolean;
  readonly baseWidth: number;
  /** Output channels of each stage (ResNet-50: 256, 512, 1024, 2048). */
  readonly channels: { c2: number; c3: number; c4: number; c5: number };
  /** Channels of the pooled vector, `channels.c5`. */
  readonly featureDim: number;
  /** Stride of each stage relative to the input: 4, 8, 16, 32 (smallInput: 1, 2, 4, 8). */
  readonly stride: { c2: number; c3: number; c4: number; c5: number };
  /** Classes of the `fc` classifier, or null without one. */
  readonly numClasses: number | null;
  /** Stage outputs and the pooled vector for NHWC float32 input [N, H, W, 3]. */
  features(x: tf.Tensor4D, opts: ForwardOptions): FeatureMaps;
  /** Logits [N, numClasses] (torchvision's `forward`); throws when built without numClasses. */
  classify(x: tf.Tensor4D, opts: ForwardOptions): tf.Tensor2D;
}

const STAGE_BLOCKS: Record<ResNetDepth, { block: 'basic' | 'bottleneck'; layers: [number, number, number, number] }> = {
  18: { block: 'basic', layers: [2, 2, 2, 2] },
  34: { block: 'basic', layers: [3, 4, 6, 3] },
  50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
  101: { block: 'bottleneck', layers: [3, 4, 23, 3] },
};

interface Block {
  apply(x: tf.Tensor4D, training: boolean): tf.Tensor4D;
  collect(state: LayerState): void;
  batchNorms(): BatchNorm[];
  dispose(): void;
}

/** conv1x1 + BatchNorm on the identity path when shape changes (`downsample.0/1`). */
class Downsample {
  readonly conv: Conv2d;
  readonly bn: BatchNorm;
  constructor(prefix: string, inC: number, outC: number, stride: number, seeds: SeedSequence) {
    this.conv = new Conv2d(`${prefix}.downsample.0`, inC, outC, 1, stride, 0, seeds);
    this.bn = new BatchNorm(`${prefix}.downsample.1`, outC, 'BatchNorm2d');
  }
  apply(x: tf.Tensor4D, training: boolean): tf.Tensor4D {
    return this.bn.apply(this.conv.apply(x), training);
  }
}

class BasicBlock implements Block {
  static readonly expansion = 1;
  private readonly conv1: Conv2d;
  private readonly bn1: BatchNorm;
  private readonly conv2: Conv2d;
  private readonly bn2: BatchNorm;
  private readonly downsample: Downsample | null;
  constructor(prefix: string, inC: number, planes: number, stride: number, seeds: SeedSequence) {
    this.conv1 = new Conv2d(`${prefix}.conv1`, inC, planes, 3, stride, 1, seeds);
    this.bn1 = new BatchNorm(`${prefix}.bn1`, planes, 'BatchNorm2d');
    this.conv2 = new Conv2d(`${prefix}.conv2`, planes, planes, 3, 1, 1, seeds);
    this.bn2 = new BatchNorm(`${prefix}.bn2`, planes, 'BatchNorm2d');
    this.downsample = stride !== 1 || inC !== planes ? new Downsample(prefix, inC, planes, stride, seeds) : null;
  }
  apply(x: tf.Tensor4D, training: boolean): tf.Tensor4D {
    let out = this.bn1.applyRelu(this.conv1.apply(x), training);
    out = this.bn2.apply(this.conv2.apply(out), training);
    const identity = this.downsample ? this.downsample.apply(x, training) : x;
    return tf.relu(tf.add<tf.Tensor4D>(out, identity));
  }
  collect(state: LayerState): void {
    this.conv1.collect(state);
    this.bn1.collect(state);
    this.conv2.collect(state);
    this.bn2.collect(state);
    if (this.downsample) {
      this.downsample.conv.collect(state);
      this.downsample.bn.collect(state);
    }
  }
  batchNorms(): BatchNorm[] {
    return [this.bn1, this.bn2, ...(this.downsample ? [this.downsample.bn] : [])];
  }
  dispose(): void {
    for (const l of [this.conv1, this.bn1, this.conv2, this.bn2]) l.dispose();
    this.downsample?.conv.dispose();
    this.downsample?.bn.dispose();
  }
}

class Bottleneck implements Block {
  static readonly expansion = 4;
  private readonly conv1: Conv2d;
  private readonly bn1: BatchNorm;
  private readonly conv2: Conv2d;
  private readonly bn2: BatchNorm;
  private readonly conv3: Conv2d;
  private readonly bn3: BatchNorm;
  private readonly downsample: Downsample | null;
  constructor(prefix: string, inC: number, planes: number, stride: number, seeds: SeedSequence) {
    const outC = planes * Bottleneck.expansion;
    this.conv1 = new Conv2d(`${prefix}.conv1`, inC, planes, 1, 1, 0, seeds);
    this.bn1 = new BatchNorm(`${prefix}.bn1`, planes, 'BatchNorm2d');
    // ResNet v1.5: the stride sits in the 3x3 conv.
    this.conv2 = new Conv2d(`${prefix}.conv2`, planes, planes, 3, stride, 1, seeds);
    this.bn2 = new BatchNorm(`${prefix}.bn2`, planes, 'BatchNorm2d');
    this.conv3 = new Conv2d(`${prefix}.conv3`, planes, outC, 1, 1, 0, seeds);
    this.bn3 = new BatchNorm(`${prefix}.bn3`, outC, 'BatchNorm2d');
    this.downsample = stride !== 1 || inC !== outC ? new Downsample(prefix, inC, outC, stride, seeds) : null;
  }
  apply(x: tf.Tensor4D, training: boolean): tf.Tensor4D {
    let out = this.bn1.applyRelu(this.conv1.apply(x), training);
    out = this.bn2.applyRelu(this.conv2.apply(out), training);
    out = this.bn3.apply(this.conv3.apply(out), training);
    const identity = this.downsample ? this.downsample.apply(x, training) : x;
    return tf.relu(tf.add<tf.Tensor4D>(out, identity));
  }
  collect(state: LayerState): void {
    for (const l of [this.conv1, this.bn1, this.conv2, this.bn2, this.conv3, this.bn3]) l.collect(state);
    if (this.downsample) {
      this.downsample.conv.collect(state);
      this.downsample.bn.collect(state);
    }
  }
  batchNorms(): BatchNorm[] {
    return [this.bn1, this.bn2, this.bn3, ...(this.downsample ? [this.downsample.bn] : [])];
  }
  dispose(): void {
    for (const l of [this.conv1, this.bn1, this.conv2, this.bn2, this.conv3, this.bn3]) l.dispose();
    this.downsample?.conv.dispose();
    this.downsample?.bn.dispose();
  }
}

function checkOptions(options: ResNetOptions): Required<Omit<ResNetOptions, 'seed' | 'numClasses'>> {
  if (options === null || typeof options !== 'object') {
    throw new ScrlError(`Error in createResNet: options must be an object like { depth: 50 }, got ${String(options)}.`);
  }
  const { depth, smallInput = false, baseWidth = 64, numClasses, seed } = options;
  if (!(depth in STAGE_BLOCKS)) {
    throw new ScrlError(`Error in createResNet: depth must be one of 18, 34, 50, 101, got ${String(depth)}.`);
  }
  if (!Number.isInteger(baseWidth) || baseWidth < 1) {
    throw new ScrlError(`Error in createResNet: baseWidth must be a positive integer (torchvision: 64), got ${String(baseWidth)}.`);
  }
  if (numClasses !== undefined && (!Number.isInteger(numClasses) || numClasses < 1)) {
    throw new ScrlError(`Error in createResNet: numClasses must be a positive integer or omitted, got ${String(numClasses)}.`);
  }
  if (seed !== undefined && !Number.isFinite(seed)) {
    throw new ScrlError(`Error in createResNet: seed must be a finite number or omitted, got ${String(seed)}.`);
  }
  return { depth, smallInput, baseWidth };
}

class ResNetImpl implements ResNet {
  readonly depth: ResNetDepth;
  readonly smallInput: boolean;
  readonly baseWidth: number;
  readonly channels: { c2: number; c3: number; c4: number; c5: number };
  readonly featureDim: number;
  readonly stride: { c2: number; c3: number; c4: number; c5: number };
  readonly numClasses: number | null;
  private readonly conv1: Conv2d;
  private readonly bn1: BatchNorm;
  private readonly stages: Block[][];
  private readonly fc: Linear | null;
  private readonly state: LayerState;

  constructor(options: ResNetOptions) {
    const { depth, smallInput, baseWidth } = checkOptions(options);
    this.depth = depth;
    this.smallInput = smallInput;
    this.baseWidth = baseWidth;
    const seeds = new SeedSequence(options.seed);
    const { block, layers } = STAGE_BLOCKS[depth];
    const expansion = block === 'basic' ? BasicBlock.expansion : Bottleneck.expansion;
    this.conv1 = smallInput
      ? new Conv2d('conv1', 3, baseWidth, 3, 1, 1, seeds)
      : new Conv2d('conv1', 3, baseWidth, 7, 2, 3, seeds);
    this.bn1 = new BatchNorm('bn1', baseWidth, 'BatchNorm2d');
    let inC = baseWidth;
    this.stages = layers.map((count, s) => {
      const planes = baseWidth * 2 ** s;
      const blocks: Block[] = [];
      for (let b = 0; b < count; b++) {
        const stride = s > 0 && b === 0 ? 2 : 1;
        const prefix = `layer${s + 1}.${b}`;
        blocks.push(
          block === 'basic'
            ? new BasicBlock(prefix, inC, planes, stride, seeds)
            : new Bottleneck(prefix, inC, planes, stride, seeds),
        );
        inC = planes * expansion;
      }
      return blocks;
    });
    const widths = [0, 1, 2, 3].map((s) => baseWidth * 2 ** s * expansion);
    this.channels = { c2: widths[0], c3: widths[1], c4: widths[2], c5: widths[3] };
    this.featureDim = this.channels.c5;
    const stem = smallInput ? 1 : 4;
    this.stride = { c2: stem, c3: stem * 2, c4: stem * 4, c5: stem * 8 };
    this.numClasses = options.numClasses ?? null;
    this.fc = options.numClasses ? new Linear('fc', this.featureDim, options.numClasses, true, seeds) : null;
    this.state = { parameters: [], buffers: [] };
    this.conv1.collect(this.state);
    this.bn1.collect(this.state);
    for (const stage of this.stages) for (const b of stage) b.collect(this.state);
    this.fc?.collect(this.state);
  }

  parameters(): NamedParameter[] {
    return this.state.parameters.slice();
  }

  buffers(): NamedBuffer[] {
    return this.state.buffers.slice();
  }

  batchNorms(): BatchNorm[] {
    return [this.bn1, ...this.stages.flatMap((stage) => stage.flatMap((b) => b.batchNorms()))];
  }

  features(x: tf.Tensor4D, opts: ForwardOptions): FeatureMaps {
    this.checkInput('features', x, opts);
    return tf.tidy(() => this.forward(x, opts.training) as unknown as tf.TensorContainer) as unknown as FeatureMaps;
  }

  classify(x: tf.Tensor4D, opts: ForwardOptions): tf.Tensor2D {
    if (!this.fc) {
      throw new ScrlError('Error in ResNet.classify: this model has no classifier; build it with createResNet({ ..., numClasses }).');
    }
    this.checkInput('classify', x, opts);
    const fc = this.fc;
    return tf.tidy(() => fc.apply(this.forward(x, opts.training).pooled));
  }

  dispose(): void {
    this.conv1.dispose();
    this.bn1.dispose();
    for (const stage of this.stages) for (const b of stage) b.dispose();
    this.fc?.dispose();
  }

  private checkInput(fn: string, x: tf.Tensor4D, opts: ForwardOptions): void {
    if (!(x instanceof tf.Tensor) || x.rank !== 4 || x.shape[3] !== 3) {
      const got = x instanceof tf.Tensor ? `shape [${x.shape.join(', ')}]` : String(x);
      throw new ScrlError(`Error in ResNet.${fn}: x must be an NHWC image batch [N, H, W, 3], got ${got}.`);
    }
    if (x.dtype !== 'float32') {
      throw new ScrlError(`Error in ResNet.${fn}: x must be float32 (normalised images), got ${x.dtype}.`);
    }
    if (opts === null || typeof opts !== 'object' || typeof opts.training !== 'boolean') {
      throw new ScrlError(`Error in ResNet.${fn}: opts must be { training: boolean }, got ${JSON.stringify(opts)}.`);
    }
  }

  private forward(x: tf.Tensor4D, training: boolean): FeatureMaps {
    let h = this.bn1.applyRelu(this.conv1.apply(x), training);
    if (!this.smallInput) h = tf.maxPool(h, 3, 2, 1);
    const outs: tf.Tensor4D[] = [];
    for (const stage of this.stages) {
      for (const block of stage) h = block.apply(h, training);
      outs.push(h);
    }
    const pooled = tf.mean(h, [1, 2]) as tf.Tensor2D;
    return { c2: outs[0], c3: outs[1], c4: outs[2], c5: outs[3], pooled };
  }
}

/**
 * Builds torchvision's `resnet{18,34,50,101}` (weights random, initialised as torchvision does:
 * kaiming_normal_(fan_out, relu) convs, BatchNorm weight 1 / bias 0, default Linear).
 */
export function createResNet(options: ResNetOptions): ResNet {
  return new ResNetImpl(options);
}
