import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_ENV_VAR, describeBackend, initBackend, parseBackendChoice } from '../index';

describe('initBackend', () => {
  it('uses the explicit choice over the environment variable', async () => {
    const lines: string[] = [];
    const info = await initBackend({ backend: 'cpu', env: { [BACKEND_ENV_VAR]: 'wasm' }, log: (l) => lines.push(l) });
    expect(info.name).toBe('cpu');
    expect(info.decidedBy).toBe('argument');
    expect(tf.getBackend()).toBe('cpu');
    expect(lines).toEqual([`[scrl] backend: ${describeBackend(info)}`]);
  });

  it('reads SCRL_BACKEND when no argument is given, and reports wasm SIMD from node_modules', async () => {
    const info = await initBackend({ env: { [BACKEND_ENV_VAR]: 'wasm' }, log: null });
    expect(info.name).toBe('wasm');
    expect(info.decidedBy).toBe(BACKEND_ENV_VAR);
    expect(info.simd).toBe(true);
    expect(info.threads).toBe(1);
    expect(tf.sum(tf.tensor1d([1, 2, 3])).dataSync()[0]).toBe(6);
  });

  it('auto skips the native backends that are not installed and falls back to wasm', async () => {
    await initBackend({ backend: 'cpu', log: null });
    const info = await initBackend({ backend: 'auto', env: {}, log: null });
    // tfjs-node cannot install on these machines; where it can, auto picks it and this is moot.
    if (info.choice === 'wasm') {
      expect(info.skipped.map((s) => s.choice)).toEqual(['node-gpu', 'node']);
      expect(info.decidedBy).toBe('auto');
    } else {
      expect(['node-gpu', 'node']).toContain(info.choice);
    }
  });

  it('fails with the allowed values for an unknown name, and names the missing package', async () => {
    expect(() => parseBackendChoice('webgpu', '--backend')).toThrow(
      "Error in parseBackendChoice: unknown backend 'webgpu' (from --backend). Allowed: auto, node-gpu, node, wasm, cpu.",
    );
    await expect(initBackend({ backend: 'bogus', log: null })).rejects.toThrow(/Allowed: auto/);
    let nativeInstalled = true;
    try {
      require.resolve('@tensorflow/tfjs-node');
    } catch {
      nativeInstalled = false;
    }
    if (!nativeInstalled) {
      await expect(initBackend({ backend: 'node', log: null })).rejects.toThrow(/Install @tensorflow\/tfjs-node/);
    }
  });

  it('registers TF.js gradients without the user doing anything', async () => {
    await initBackend({ backend: 'cpu', log: null });
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.square(x)))(tf.tensor1d([1, 2, 3]));
    expect(Array.from(g.dataSync())).toEqual([2, 4, 6]);
  });
});
