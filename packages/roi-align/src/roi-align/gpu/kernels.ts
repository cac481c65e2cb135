/**
 * RoiAlign and RoiAlignGrad kernels for the `webgl` and `webgpu` backends: a GLSL GPGPU program
 * and a WGSL compute program per direction, both gathers over the tap tables of tables.ts (the
 * gradient is gathered per input pixel over the boxes of its image, so WebGL needs no scatter
 * and WebGPU no atomics). No import of the backend packages: the kernels use the slice of
 * MathBackendWebGL / WebGPUBackend below, and register only names, so Node never loads them.
 */
import type { DataType, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import {
  RoiAlign,
  RoiAlignGrad,
  type RoiAlignGradAttrs,
  type RoiAlignGradInputs,
  type RoiAlignInputs,
  type RoiAlignKernelAttrs,
} from '../kernel-names';
import { backwardTables, forwardTables } from './tables';

/** What the kernels use of MathBackendWebGL and WebGPUBackend (the same methods on both). */
interface GpuBackendLike {
  readSync(dataId: object): ArrayLike<number>;
  makeTensorInfo(shape: number[], dtype: DataType, values?: Float32Array): TensorInfo;
  disposeData(dataId: object): void;
}

interface WebGLBackendLike extends GpuBackendLike {
  runWebGLProgram(program: WebGLProgramSpec, inputs: TensorInfo[], dtype: DataType): TensorInfo;
}

interface WebGPUBackendLike extends GpuBackendLike {
  runWebGPUProgram(program: WebGPUProgramSpec, inputs: TensorInfo[], dtype: DataType): TensorInfo;
}

/** tfjs-backend-webgl's GPGPUProgram, as far as these programs need it. */
export interface WebGLProgramSpec {
  variableNames: string[];
  outputShape: number[];
  userCode: string;
}

/** tfjs-backend-webgpu's WebGPUProgram, as far as these programs need it. */
export interface WebGPUProgramSpec {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  size: boolean;
  getUserCode(): string;
}

type KernelArgs = { inputs: unknown; backend: unknown; attrs?: unknown };

const sizeOf = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);

// ---- GLSL (WebGL2) ----

export function webglForwardProgram(outShape: number[], TR: number, TC: number): WebGLProgramSpec {
  const [, PH, PW] = outShape;
  return {
    variableNames: ['x', 'rows', 'cols', 'image'],
    outputShape: outShape,
    userCode: `
      void main() {
        ivec4 o = getOutputCoords();
        int k = o[0];
        int rowEntry = k * ${PH} + o[1];
        int colEntry = k * ${PW} + o[2];
        int n = int(getImage(k) + 0.5);
        float sum = 0.0;
        for (int i = 0; i < ${TR}; i++) {
          float wy = getRows(rowEntry, 2 * i + 1);
          if (wy == 0.0) break;
          int r = int(getRows(rowEntry, 2 * i) + 0.5);
          for (int j = 0; j < ${TC}; j++) {
            float wx = getCols(colEntry, 2 * j + 1);
            if (wx == 0.0) break;
            int c = int(getCols(colEntry, 2 * j) + 0.5);
            sum += wy * wx * getX(n, r, c, o[3]);
          }
        }
        setOutput(sum);
      }`,
  };
}

export function webglBackwardProgram(inShape: number[], MR: number, MC: number, KMAX: number): WebGLProgramSpec {
  const [, H, W] = inShape;
  return {
    variableNames: ['dy', 'invRows', 'invCols', 'imageRange', 'order'],
    outputShape: inShape,
    userCode: `
      void main() {
        ivec4 o = getOutputCoords();
        int n = o[0];
        int first = int(getImageRange(n, 0) + 0.5);
        int count = int(getImageRange(n, 1) + 0.5);
        float sum = 0.0;
        for (int t = 0; t < ${KMAX}; t++) {
          if (t >= count) break;
          int k = int(getOrder(first + t) + 0.5);
          int rowEntry = k * ${H} + o[1];
          int colEntry = k * ${W} + o[2];
          for (int i = 0; i < ${MR}; i++) {
            float wy = getInvRows(rowEntry, 2 * i + 1);
            if (wy == 0.0) break;
            int ph = int(getInvRows(rowEntry, 2 * i) + 0.5);
            for (int j = 0; j < ${MC}; j++) {
              float wx = getInvCols(colEntry, 2 * j + 1);
              if (wx == 0.0) break;
              int pw = int(getInvCols(colEntry, 2 * j) + 0.5);
              sum += wy * wx * getDy(k, ph, pw, o[3]);
            }
          }
        }
        setOutput(sum);
      }`,
  };
}

// ---- WGSL (WebGPU) ----

const WORKGROUP = 64;
const MAX_GROUPS_PER_DIM = 65535;

/** A flat dispatch, folded into two dimensions when one would exceed WebGPU's limit. */
function dispatchFor(size: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(size / WORKGROUP));
  if (groups <= MAX_GROUPS_PER_DIM) return [groups, 1, 1];
  const x = Math.ceil(Math.sqrt(groups));
  return [x, Math.ceil(groups / x), 1];
}

function webgpuProgram(name: string, variableNames: string[], outShape: number[], body: string): WebGPUProgramSpec {
  return {
    variableNames,
    outputShape: outShape,
    shaderKey: name,
    dispatchLayout: { x: outShape.map((_, i) => i) },
    dispatch: dispatchFor(sizeOf(outShape)),
    workgroupSize: [WORKGROUP, 1, 1],
    size: true,
    getUserCode: () => `
      fn main(index : i32) {
        if (index < uniforms.size) {
          let o = getCoordsFromIndex(index);
          ${body}
          setOutputAtIndex(index, sum);
        }
      }`,
  };
}

export function webgpuForwardProgram(outShape: number[], TR: number, TC: number): WebGPUProgramSpec {
  const [, PH, PW] = outShape;
  return webgpuProgram(`scrlRoiAlign_${PH}_${PW}_${TR}_${TC}`, ['x', 'rows', 'cols', 'image'], outShape, `
          let k = o[0];
          let rowEntry = k * ${PH} + o[1];
          let colEntry = k * ${PW} + o[2];
          let n = i32(round(getImage(k)));
          var sum = 0.0;
          for (var i = 0; i < ${TR}; i++) {
            let wy = getRows(rowEntry, 2 * i + 1);
            if (wy == 0.0) { break; }
            let r = i32(round(getRows(rowEntry, 2 * i)));
            for (var j = 0; j < ${TC}; j++) {
              let wx = getCols(colEntry, 2 * j + 1);
              if (wx == 0.0) { break; }
              let c = i32(round(getCols(colEntry, 2 * j)));
              sum = sum + wy * wx * getX(n, r, c, o[3]);
            }
          }`);
}

export function webgpuBackwardProgram(inShape: number[], MR: number, MC: number, KMAX: number): WebGPUProgramSpec {
  const [, H, W] = inShape;
  return webgpuProgram(
    `scrlRoiAlignGrad_${H}_${W}_${MR}_${MC}_${KMAX}`,
    ['dy', 'invRows', 'invCols', 'imageRange', 'order'],
    inShape,
    `
          let n = o[0];
          let first = i32(round(getImageRange(n, 0)));
          let count = i32(round(getImageRange(n, 1)));
          var sum = 0.0;
          for (var t = 0; t < ${KMAX}; t++) {
            if (t >= count) { break; }
            let k = i32(round(getOrder(first + t)));
            let rowEntry = k * ${H} + o[1];
            let colEntry = k * ${W} + o[2];
            for (var i = 0; i < ${MR}; i++) {
              let wy = getInvRows(rowEntry, 2 * i + 1);
              if (wy == 0.0) { break; }
              let ph = i32(round(getInvRows(rowEntry, 2 * i)));
              for (var j = 0; j < ${MC}; j++) {
                let wx = getInvCols(colEntry, 2 * j + 1);
                if (wx == 0.0) { break; }
                let pw = i32(round(getInvCols(colEntry, 2 * j)));
                sum = sum + wy * wx * getDy(k, ph, pw, o[3]);
              }
            }
          }`,
  );
}

// ---- kernel functions ----

type Runner = (b: GpuBackendLike, program: 'forward' | 'backward', spec: number[], inputs: TensorInfo[], shape: number[]) => TensorInfo;

const runners: Record<'webgl' | 'webgpu', Runner> = {
  webgl: (b, dir, [t1, t2, t3], inputs, shape) =>
    (b as WebGLBackendLike).runWebGLProgram(
      dir === 'forward' ? webglForwardProgram(shape, t1, t2) : webglBackwardProgram(shape, t1, t2, t3),
      inputs,
      'float32',
    ),
  webgpu: (b, dir, [t1, t2, t3], inputs, shape) =>
    (b as WebGPUBackendLike).runWebGPUProgram(
      dir === 'forward' ? webgpuForwardProgram(shape, t1, t2) : webgpuBackwardProgram(shape, t1, t2, t3),
      inputs,
      'float32',
    ),
};

/** Uploads the tables, runs the program, frees the tables. */
function withTables(b: GpuBackendLike, tables: Array<[number[], Float32Array]>, run: (infos: TensorInfo[]) => TensorInfo): TensorInfo {
  const infos = tables.map(([shape, values]) => b.makeTensorInfo(shape, 'float32', values));
  try {
    return run(infos);
  } finally {
    for (const info of infos) b.disposeData(info.dataId);
  }
}

function forwardKernel(backendName: 'webgl' | 'webgpu') {
  return ({ inputs, backend, attrs }: KernelArgs) => {
    const ins = inputs as RoiAlignInputs;
    const a = attrs as RoiAlignKernelAttrs;
    const b = backend as GpuBackendLike;
    const [N, H, W, C] = ins.x.shape;
    const K = ins.boxes.shape[0];
    const shape = [K, a.pooledHeight, a.pooledWidth, C];
    if (sizeOf(shape) === 0) return b.makeTensorInfo(shape, 'float32', new Float32Array(0));
    const t = forwardTables(b.readSync(ins.boxes.dataId), b.readSync(ins.boxIndices.dataId), N, H, W, a);
    return withTables(
      b,
      [
        [[K * a.pooledHeight, 2 * t.TR], t.rows],
        [[K * a.pooledWidth, 2 * t.TC], t.cols],
        [[K], t.image],
      ],
      (tabs) => runners[backendName](b, 'forward', [t.TR, t.TC, 0], [ins.x, ...tabs], shape),
    );
  };
}

function backwardKernel(backendName: 'webgl' | 'webgpu') {
  return ({ inputs, backend, attrs }: KernelArgs) => {
    const ins = inputs as RoiAlignGradInputs;
    const a = attrs as RoiAlignGradAttrs;
    const b = backend as GpuBackendLike;
    const shape = Array.from(a.inputShape);
    const [N, H, W] = shape;
    const K = ins.boxes.shape[0];
    if (sizeOf(shape) === 0 || K === 0 || sizeOf(ins.dy.shape) === 0) {
      return b.makeTensorInfo(shape, 'float32', new Float32Array(sizeOf(shape)));
    }
    const t = backwardTables(b.readSync(ins.boxes.dataId), b.readSync(ins.boxIndices.dataId), shape, a);
    return withTables(
      b,
      [
        [[K * H, 2 * t.MR], t.invRows],
        [[K * W, 2 * t.MC], t.invCols],
        [[N, 2], t.imageRange],
        [[K], t.order],
      ],
      (tabs) => runners[backendName](b, 'backward', [t.MR, t.MC, t.KMAX], [ins.dy, ...tabs], shape),
    );
  };
}

export const roiAlignGpuKernelConfigs: KernelConfig[] = (['webgl', 'webgpu'] as const).flatMap((backendName) => [
  { kernelName: RoiAlign, backendName, kernelFunc: forwardKernel(backendName) as unknown as KernelFunc },
  { kernelName: RoiAlignGrad, backendName, kernelFunc: backwardKernel(backendName) as unknown as KernelFunc },
]);
