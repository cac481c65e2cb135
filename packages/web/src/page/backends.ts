/**
 * The page's compute backends. The backend packages are imported here, before any @scrl
 * package (whose training kernels must be registered after the backends' stock ones), so every
 * entry imports this module first.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

/** In order of preference: the first that starts is the page's default. */
export const BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type BrowserBackend = (typeof BACKENDS)[number];

// The wasm binaries are copied beside the bundle (build.js); never fetched from a CDN.
setWasmPaths(new URL('./', location.href).href);

/** Switches to `name`; resolves to false (with the reason logged) where it does not start. */
export async function useBackend(name: BrowserBackend): Promise<boolean> {
  try {
    const ok = await tf.setBackend(name);
    if (!ok) return false;
    await tf.ready();
    // A trivial op: some backends register but fail at their first program.
    const probe = tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(2)));
    const v = (await probe.data())[0];
    probe.dispose();
    return v === 3;
  } catch (err) {
    console.warn(`backend ${name} did not start: ${(err as Error).message}`);
    return false;
  }
}

/** The backends that start in this browser, in order of preference. */
export async function availableBackends(): Promise<BrowserBackend[]> {
  const found: BrowserBackend[] = [];
  for (const name of BACKENDS) if (await useBackend(name)) found.push(name);
  return found;
}
