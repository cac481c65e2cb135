/**
 * Makes sure TF.js gradients and chained ops are registered before any of our code runs.
 *
 * `require('@tensorflow/tfjs-core')` in Node loads a CommonJS bundle that registers no
 * gradients, so `tf.grad` fails on every op ("gradient function not found for Sum"). The
 * build bundles core's own registrations (tools/build/tfjs-gradients.js); loading that file
 * once registers them globally. Every @scrl package imports @scrl/roi-align, so users never
 * have to do this themselves.
 */
import * as tf from '@tensorflow/tfjs-core';

const REGISTERED = Symbol.for('@scrl/roi-align/tfjs-core-gradients');

export function ensureTfjsGradients(): void {
  const g = globalThis as Record<symbol, unknown>;
  if (g[REGISTERED]) return;
  // Another loader (e.g. @tensorflow/tfjs or tfjs-node) may already have registered them.
  if (tf.getGradient('Sum') == null) {
    require('../../vendor/tfjs-core-gradients.js');
  }
  g[REGISTERED] = true;
}

ensureTfjsGradients();
