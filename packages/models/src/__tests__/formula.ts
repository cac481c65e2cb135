/**
 * The fixture formula shared with tools/fixtures/resnet.py and heads.py: weights and inputs that
 * both sides compute, so that only outputs are committed. Keep the two in step.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { readSafetensors, type SafetensorsFile, type SafetensorsTensor } from '../safetensors';

export function fnv1a(name: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(name, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** Uniform values in [-1, 1): murmur3's finaliser of (fnv1a(name) + i * 0x9E3779B9) mod 2^32. */
export function hashUniform(name: string, n: number): Float64Array {
  const base = fnv1a(name);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let x = (base + (Math.imul(i, 0x9e3779b9) >>> 0)) >>> 0;
    x = (x ^ (x >>> 16)) >>> 0;
    x = Math.imul(x, 0x85ebca6b) >>> 0;
    x = (x ^ (x >>> 13)) >>> 0;
    x = Math.imul(x, 0xc2b2ae35) >>> 0;
    x = (x ^ (x >>> 16)) >>> 0;
    out[i] = (x / 2 ** 32) * 2 - 1;
  }
  return out;
}

/**
 * resnet.py's RESIDUAL_SCALE: the last BatchNorm of every residual branch has its weight and bias
 * scaled by it, which keeps the float32 problem well-conditioned (see resnet.py's docstring).
 */
export const RESIDUAL_SCALE = 0.15;

/**
 * The fixture value of a state_dict tensor `name` with PyTorch shape `shape` (see resnet.py).
 * `lastBn`: the residual branch's last BatchNorm (`bn3` in bottlenecks, `bn2` in basic blocks).
 */
export function formulaValue(name: string, shape: number[], fcFanIn: number, lastBn?: 'bn2' | 'bn3'): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const u = hashUniform(name, n);
  const v = new Float32Array(n);
  let f: (x: number) => number;
  if (lastBn && new RegExp(`^layer\\d+\\.\\d+\\.${lastBn}\\.(weight|bias)$`).test(name)) {
    f = name.endsWith('weight') ? (x) => RESIDUAL_SCALE * (1 + 0.25 * x) : (x) => RESIDUAL_SCALE * (0.1 * x);
  } else if (name.endsWith('running_mean')) f = (x) => 0.1 * x;
  else if (name.endsWith('running_var')) f = (x) => 1 + 0.5 * x;
  else if (shape.length === 1 && !name.startsWith('fc.') && !name.startsWith('net.0') && !name.startsWith('net.3')) {
    f = name.endsWith('weight') ? (x) => 1 + 0.25 * x : (x) => 0.1 * x;
  } else if (shape.length === 4) {
    const s = Math.sqrt(6 / (shape[1] * shape[2] * shape[3]));
    f = (x) => x * s;
  } else {
    // Linear weight [out, in] (fan_in = in) or Linear bias (fan_in given).
    const s = 1 / Math.sqrt(shape.length === 2 ? shape[1] : fcFanIn);
    f = (x) => x * s;
  }
  for (let i = 0; i < n; i++) v[i] = f(u[i]);
  return v;
}

/** Replaces every float tensor of a state_dict (names and PyTorch shapes) with its formula value. */
export function formulaStateDict(template: Map<string, SafetensorsTensor>, fcFanIn: number): Map<string, SafetensorsTensor> {
  const out = new Map<string, SafetensorsTensor>();
  const lastBn = template.has('layer1.0.conv3.weight') ? 'bn3' : 'bn2';
  for (const [name, t] of template) {
    out.set(name, t.dtype === 'F32' ? { dtype: 'F32', shape: t.shape, data: formulaValue(name, t.shape, fcFanIn, lastBn) } : t);
  }
  return out;
}

/** NCHW float32 tensor from the formula, returned NHWC. */
export function formulaNhwc(name: string, nchw: [number, number, number, number]): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(Float32Array.from(hashUniform(name, nchw.reduce((a, b) => a * b))), nchw), [0, 2, 3, 1]));
}

export function readFixture(file: string): SafetensorsFile {
  return readSafetensors(fs.readFileSync(path.join(__dirname, '..', '__fixtures__', file)));
}

export function fixtureData(f: SafetensorsFile, name: string): Float32Array {
  const t = f.tensors.get(name);
  if (!t || t.dtype !== 'F32') throw new Error(`fixture tensor ${name} missing`);
  return t.data;
}
