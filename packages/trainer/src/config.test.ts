import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { applyOverrides, loadConfigFile, presetConfig, resolveConfig, validateConfig } from './index';

describe('config', () => {
  it('has the paper preset of the reference', () => {
    const c = presetConfig('paper');
    expect(c.model).toMatchObject({ depth: 50, smallInput: false, baseWidth: 64 });
    expect(c.model.projector).toEqual({ hiddenDim: 4096, outDim: 256 });
    expect(c.views.size).toBe(224);
    expect(c.batch.size).toBe(8192);
    expect(c.optimizer).toEqual({ baseLr: 0.45, weightDecay: 1e-6, momentum: 0.9, eta: 1e-3 });
    expect(c.ema.baseMomentum).toBe(0.97);
    expect(c.ema.targetInit).toBe('independent');
    expect([c.schedule.epochs, c.schedule.warmupEpochs]).toEqual([200, 10]);
    expect(validateConfig(presetConfig('cpu'))).toEqual(presetConfig('cpu'));
  });

  it('applies key=value overrides with YAML values', () => {
    const c = applyOverrides(presetConfig('cpu'), [
      'optimizer.baseLr=0.2',
      'method=byol',
      'views.scale=[0.3, 1]',
      'boxes.minSize=16',
      'ema.targetInit=copy',
      'optimizer.weightDecay=1.5e-6',
    ]);
    expect(c.optimizer.baseLr).toBe(0.2);
    expect(c.method).toBe('byol');
    expect(c.views.scale).toEqual([0.3, 1]);
    expect(c.boxes.minSize).toBe(16);
    expect(c.ema.targetInit).toBe('copy');
    expect(c.optimizer.weightDecay).toBe(1.5e-6);
    // The input is not modified.
    expect(presetConfig('cpu').method).toBe('scrl');
  });

  it('fails naming the key, the value and what is allowed', () => {
    const c = presetConfig('cpu');
    expect(() => applyOverrides(c, ['optimizer.lr=0.2'])).toThrow(
      "applyOverrides: unknown key 'optimizer.lr' in 'optimizer.lr=0.2'. Keys under 'optimizer': baseLr, weightDecay, momentum, eta.",
    );
    expect(() => applyOverrides(c, ['batch.size=1'])).toThrow(
      `applyOverrides: cannot set 'batch.size' to "1" (from 'batch.size=1'): batch.size: Too small: expected number to be >=2.`,
    );
    expect(() => applyOverrides(c, ['method=simclr'])).toThrow(/cannot set 'method' to "simclr" .*: method: Invalid option: expected one of "scrl"\|"byol"/);
    expect(() => applyOverrides(c, ['model.depth=19'])).toThrow(/cannot set 'model.depth' to "19"/);
    expect(() => applyOverrides(c, ['optimizer=1'])).toThrow("'optimizer' is a group, not a value");
    expect(() => applyOverrides(c, ['seed'])).toThrow("applyOverrides: 'seed' is not of the form key=value");
    expect(() => applyOverrides(c, ['views.scale=[0.9, 0.5]'])).toThrow('views.scale must be [lo, hi] with lo <= hi');
  });

  it('reads a YAML config file over its preset, rejecting unknown keys', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-config-'));
    const good = path.join(dir, 'good.yaml');
    fs.writeFileSync(good, 'preset: paper\nbatch:\n  size: 256\n  accumulate: 4\n');
    const c = loadConfigFile(good);
    expect(c.model.depth).toBe(50);
    expect(c.batch).toEqual({ size: 256, accumulate: 4 });
    expect(resolveConfig({ file: good, overrides: ['seed=3'] }).seed).toBe(3);
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, 'optimizer:\n  lr: 0.1\n');
    expect(() => loadConfigFile(bad)).toThrow(`Error in validateConfig: invalid config file ${bad}: unknown key 'optimizer.lr' (keys under 'optimizer': baseLr, weightDecay, momentum, eta).`);
    fs.writeFileSync(bad, 'preset: huge\n');
    expect(() => loadConfigFile(bad)).toThrow('preset must be one of paper, cpu but got "huge"');
    fs.rmSync(dir, { recursive: true });
  });
});
