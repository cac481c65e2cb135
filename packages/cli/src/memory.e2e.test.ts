/**
 * Memory over time: tools/reliability/memory-test.js pretrains 500 steps and fine-tunes a
 * detector 150 steps at a tiny size in a child process (for --expose-gc), and fails when
 * tf.memory().numTensors changes or RSS / heap / external memory grow after warm-up. About
 * 1.5 minutes on 2 cores.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const SCRIPT = path.join(__dirname, '..', '..', '..', 'tools', 'reliability', 'memory-test.js');

it('keeps tensors and memory flat over 500 pretraining steps and a detection fine-tune', () => {
  const r = spawnSync(process.execPath, ['--expose-gc', SCRIPT, 'all'], { encoding: 'utf8' });
  const summary = `${r.stdout}${r.stderr}`.split('\n').filter((l) => /PASS|FAIL|^\s+- /.test(l));
  expect([r.status, summary.join('\n')]).toEqual([0, expect.stringMatching(/\[memory-test\] PASS/)]);
  expect(summary.filter((l) => /\[memory-test (pretrain|detection)\] PASS: (500|150) steps/.test(l))).toHaveLength(2);
}, 600_000);
