/**
 * Which training kernels we register on which backend, and the bookkeeping that makes
 * registering idempotent and reversible.
 *
 * A stock kernel is replaced only where ours measured faster (docs/backends.md has the figures);
 * a missing one is added. The stock configs are kept, in a process-wide record shared by every
 * copy of this module (jest may load both `src/` and `dist/`), so `withStockKernels` can put
 * them back, e.g. to compute a reference gradient or to time the stock step.
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2dBackpropFilterByShape } from './conv2d-backprop-filter';
import { conv2dBackpropInputViaConv2D } from './conv2d-backprop-input';
import { batchMatMulWasm } from './batch-mat-mul';
import { broadcastBinaryCpu, type BinaryKernelName } from './broadcast-binary';
import { identitySharing } from './identity';
import { tileByBlocks } from './tile';
import { unsortedSegmentSumTypedArray } from './unsorted-segment-sum';

/** Marks a kernel config as ours, across module copies. */
const OURS = Symbol.for('@scrl/roi-align/training-kernel');
const STATE = Symbol.for('@scrl/roi-align/training-kernels-state');

interface RegistryState {
  /** key `${backend}/${kernel}` → the config that was registered before ours (null: none). */
  stock: Map<string, tf.KernelConfig | null>;
  /** key → our config. */
  ours: Map<string, tf.KernelConfig>;
}

function state(): RegistryState {
  const g = globalThis as Record<symbol, RegistryState | undefined>;
  if (!g[STATE]) g[STATE] = { stock: new Map(), ours: new Map() };
  return g[STATE] as RegistryState;
}

const keyOf = (kernelName: string, backendName: string) => `${backendName}/${kernelName}`;

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap };

/** One kernel we provide: what, where, and why (also listed in docs/backends.md). */
export interface TrainingKernelInfo {
  kernelName: string;
  backendName: 'wasm' | 'cpu';
  /** `adds` a kernel the backend lacks; `replaces` a slower stock one. */
  action: 'adds' | 'replaces';
  how: string;
}

export const TRAINING_KERNELS: readonly TrainingKernelInfo[] = [
  {
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    action: 'adds',
    how: 'a WebAssembly SIMD loop over the heap (input channels a multiple of 4, output channels of 8); otherwise one XNNPACK Conv2D over the transposed input with dy as a dilated filter, 1x1 filters: im2col + the XNNPACK BatchMatMul',
  },
  {
    kernelName: 'Conv2DBackpropInput',
    backendName: 'wasm',
    action: 'replaces',
    how: 'XNNPACK Conv2Ds of dy with the flipped, channel-swapped filter, one per stride phase (sub-pixel)',
  },
  {
    kernelName: 'UnsortedSegmentSum',
    backendName: 'wasm',
    action: 'adds',
    how: 'typed-array accumulation (the gradient of tf.gather)',
  },
  {
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'cpu',
    action: 'replaces',
    how: 'one cpu Conv2D over the transposed input with dy as a dilated filter; 1x1 filters: im2col + cpu BatchMatMul',
  },
  {
    kernelName: 'Tile',
    backendName: 'wasm',
    action: 'replaces',
    how: 'block copies (BatchNorm gradients tile a channel vector to the activation shape)',
  },
  {
    kernelName: 'Tile',
    backendName: 'cpu',
    action: 'replaces',
    how: 'block copies (BatchNorm gradients tile a channel vector to the activation shape)',
  },
  {
    kernelName: 'Identity',
    backendName: 'wasm',
    action: 'replaces',
    how: "the output shares the input's heap buffer under a reference count (as wasm Reshape and cpu Identity do) instead of a copy: the engine clones every tensor a gradient saves",
  },
  {
    kernelName: 'BatchMatMul',
    backendName: 'wasm',
    action: 'replaces',
    how: 'transposed operands transposed explicitly and batches split, so every product runs on the stock kernel\'s XNNPACK fast path',
  },
  ...(['Multiply', 'Add', 'Sub', 'RealDiv'] as const).map(
    (kernelName): TrainingKernelInfo => ({
      kernelName,
      backendName: 'cpu',
      action: 'replaces',
      how: 'float32 broadcasts over collapsed dimensions with a strided inner loop (the gradient of sum/mean is one); equal shapes go to the stock kernel',
    }),
  ),
];

function stockOrThrow(kernelName: string, backendName: string): tf.KernelConfig {
  const stock = state().stock.get(keyOf(kernelName, backendName));
  if (!stock) {
    throw new Error(`${kernelName}: no stock ${backendName} kernel to fall back to for this geometry.`);
  }
  return stock;
}

/** Ours handle NHWC; an NCHW call goes to the stock kernel where there is one. */
function withNchwToStock(info: TrainingKernelInfo, ours: (args: KernelArgs) => tf.TensorInfo): tf.KernelFunc {
  return ((args: KernelArgs) => {
    if (args.attrs.dataFormat === 'NCHW' && state().stock.get(keyOf(info.kernelName, info.backendName))) {
      return stockOrThrow(info.kernelName, info.backendName).kernelFunc(args);
    }
    return ours(args);
  }) as unknown as tf.KernelFunc;
}

function kernelFuncFor(info: TrainingKernelInfo): tf.KernelFunc {
  switch (info.kernelName) {
    case 'Conv2DBackpropFilter':
      return withNchwToStock(info, conv2dBackpropFilterByShape);
    case 'UnsortedSegmentSum':
      return unsortedSegmentSumTypedArray as unknown as tf.KernelFunc;
    case 'Conv2DBackpropInput':
      return withNchwToStock(info, conv2dBackpropInputViaConv2D);
    case 'Tile':
    case 'Identity': {
      const ours = info.kernelName === 'Tile' ? tileByBlocks : identitySharing;
      return ((args: KernelArgs) => ours(args) ?? stockOrThrow(info.kernelName, info.backendName).kernelFunc(args)) as unknown as tf.KernelFunc;
    }
    case 'BatchMatMul':
      return ((args: KernelArgs) => {
        const stock = stockOrThrow(info.kernelName, info.backendName).kernelFunc as unknown as (a: KernelArgs) => tf.TensorInfo;
        return batchMatMulWasm(args, stock) ?? stock(args);
      }) as unknown as tf.KernelFunc;
    case 'Multiply':
    case 'Add':
    case 'Sub':
    case 'RealDiv':
      return ((args: KernelArgs) =>
        broadcastBinaryCpu(info.kernelName as BinaryKernelName, args) ??
        stockOrThrow(info.kernelName, info.backendName).kernelFunc(args)) as unknown as tf.KernelFunc;
    default:
      throw new Error(`training kernels: no implementation for ${info.kernelName}`);
  }
}

function isOurs(config: tf.KernelConfig | undefined): boolean {
  return config != null && (config as unknown as Record<symbol, unknown>)[OURS] === true;
}

/** The backend instance if it is already initialized (its kernels' setupFuncs have run). */
function initializedBackend(backendName: string): tf.KernelBackend | null {
  const registry = (tf.engine() as unknown as { registry: Record<string, tf.KernelBackend> }).registry;
  return registry[backendName] ?? null;
}

function install(config: tf.KernelConfig): void {
  if (tf.getKernel(config.kernelName, config.backendName) != null) {
    tf.unregisterKernel(config.kernelName, config.backendName);
  }
  tf.registerKernel(config);
  const backend = initializedBackend(config.backendName);
  if (backend && config.setupFunc) config.setupFunc(backend);
}

/**
 * Registers the training kernels (idempotent: a second call, or a second copy of this module,
 * changes nothing and warns about nothing). Called on import of `@scrl/roi-align`.
 */
export function registerTrainingKernels(): void {
  const s = state();
  for (const info of TRAINING_KERNELS) {
    const key = keyOf(info.kernelName, info.backendName);
    const current = tf.getKernel(info.kernelName, info.backendName);
    if (isOurs(current)) continue;
    if (!s.stock.has(key)) s.stock.set(key, current ?? null);
    let ours = s.ours.get(key);
    if (!ours) {
      ours = { kernelName: info.kernelName, backendName: info.backendName, kernelFunc: kernelFuncFor(info) };
      // Keep the stock kernel's setup (wasm binds its C function there) so the stock fallback
      // paths (bool Tile, NCHW convs) still work when the backend initialises after us.
      const stockSetup = s.stock.get(key)?.setupFunc;
      if (stockSetup) ours.setupFunc = stockSetup;
      (ours as unknown as Record<symbol, unknown>)[OURS] = true;
      s.ours.set(key, ours);
    }
    install(ours);
  }
}

/**
 * Runs `fn` with the stock TF.js kernels back in place of the ones we replaced (kernels we only
 * added stay, since there is no stock one), then restores ours, also when `fn` throws or its
 * promise rejects. For reference gradients in tests and before/after benchmarks. With
 * `kernelNames`, only those kernels are swapped.
 */
export function withStockKernels<T>(fn: () => T, kernelNames?: readonly string[]): T {
  const s = state();
  const swapped: tf.KernelConfig[] = [];
  for (const [key, stock] of s.stock) {
    const ours = s.ours.get(key);
    if (!stock || !ours || !isOurs(tf.getKernel(ours.kernelName, ours.backendName))) continue;
    if (kernelNames && !kernelNames.includes(ours.kernelName)) continue;
    install(stock);
    swapped.push(ours);
  }
  const restore = () => {
    for (const ours of swapped) install(ours);
  };
  let result: T;
  try {
    result = fn();
  } catch (err) {
    restore();
    throw err;
  }
  if (result instanceof Promise) {
    return result.finally(restore) as unknown as T;
  }
  restore();
  return result;
}
