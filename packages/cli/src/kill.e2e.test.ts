/**
 * Killed anywhere, nothing lost: tools/reliability/kill-test.js SIGKILLs `scrl pretrain` and
 * `scrl eval detection` 20 times each at random moments (timers and the trainer's crash points),
 * resumes each time and checks every resume, the checkpoints, metrics.jsonl and bit-identical
 * final weights. About 1-3 minutes on 2 cores; the seed is printed for a replay.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';

const SCRIPT = path.join(__dirname, '..', '..', '..', 'tools', 'reliability', 'kill-test.js');

it('survives 20 SIGKILLs of pretrain and of detection fine-tuning with nothing lost', async () => {
  const seed = Number(process.env.SCRL_KILL_SEED ?? Date.now() % 100000);
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(process.execPath, [SCRIPT, 'all', '--kills', '20', '--seed', String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', (c) => resolve({ code: c, output }));
  });
  const summary = output.split('\n').filter((l) => /PASS|FAIL|^\s+- /.test(l));
  expect([code, summary.join('\n')]).toEqual([0, expect.stringMatching(/\[kill-test\] PASS/)]);
  expect(summary.filter((l) => /\[kill-test (pretrain|detection)\] PASS: 20 kills/.test(l))).toHaveLength(2);
}, 480_000);
