import { parseCommandArgs } from '../command';
import { UsageError } from '../errors';
import { detectionConfig, evalDetection } from './eval';

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
});
