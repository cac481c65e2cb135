import { parseCommandArgs } from '../command';
import { UsageError } from '../errors';
import { detectionConfig, evalDetection, lrSweepOption } from './eval';

describe('eval detection flags', () => {
  it('passes --seed to the fine-tuning config, 0 by default', () => {
    expect(detectionConfig(parseCommandArgs(evalDetection, ['--seed', '7', '--steps', '60'])).seed).toBe(7);
    expect(detectionConfig(parseCommandArgs(evalDetection, [])).seed).toBe(0);
  });

  it('rejects a seed that is not a non-negative integer, naming the flag', () => {
    for (const bad of ['-1', '1.5', 'x']) {
      expect(() => detectionConfig(parseCommandArgs(evalDetection, ['--seed', bad]))).toThrow(UsageError);
      expect(() => detectionConfig(parseCommandArgs(evalDetection, ['--seed', bad]))).toThrow(/--seed/);
    }
  });

  it('takes --warmup as given, else the default capped at a sixth of --steps', () => {
    expect(detectionConfig(parseCommandArgs(evalDetection, ['--steps', '300', '--warmup', '100'])).warmupSteps).toBe(100);
    expect(detectionConfig(parseCommandArgs(evalDetection, ['--steps', '300'])).warmupSteps).toBe(50);
    expect(detectionConfig(parseCommandArgs(evalDetection, [])).warmupSteps).toBe(100);
    expect(() => detectionConfig(parseCommandArgs(evalDetection, ['--warmup', '-3']))).toThrow(/--warmup/);
  });

  it('parses --lr-sweep as a list of positive numbers, naming the flag otherwise', () => {
    expect(lrSweepOption(parseCommandArgs(evalDetection, ['--lr-sweep', '0.003, 0.01,0.03']))).toEqual([0.003, 0.01, 0.03]);
    expect(lrSweepOption(parseCommandArgs(evalDetection, []))).toBeUndefined();
    for (const bad of ['0.01,,0.03', '0.01,x', '0,0.01', '0.01,-0.01']) {
      expect(() => lrSweepOption(parseCommandArgs(evalDetection, ['--lr-sweep', bad]))).toThrow(/--lr-sweep must be a comma-separated list/);
    }
  });
});
