import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DemoJobError, runDemoJobs } from './demo-jobs';

function capture() {
  const err: string[] = [];
  return { io: { out: () => undefined, err: (l: string) => err.push(l), isTTY: false }, err };
}

describe('runDemoJobs', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-jobs-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('runs scrl children, at most N at once, each with its command and output in its log', async () => {
    const { io } = capture();
    const jobs = ['a', 'b', 'c'].map((label) => ({ label, args: ['--version'], log: path.join(tmp, `${label}.log`) }));
    await runDemoJobs(io, jobs, 2);
    for (const j of jobs) expect(fs.readFileSync(j.log, 'utf8')).toMatch(/^\$ scrl --version\n\d+\.\d+\.\d+/);
  }, 60_000);

  it('names the failed run, its exit code and its log, and still finishes the others', async () => {
    const { io } = capture();
    const jobs = [
      { label: 'BYOL', args: ['pretrain', '--set', 'nope.x=1'], log: path.join(tmp, 'bad.log') },
      { label: 'SCRL', args: ['--version'], log: path.join(tmp, 'good.log') },
    ];
    const run = runDemoJobs(io, jobs, 2);
    await expect(run).rejects.toThrow(DemoJobError);
    await expect(run).rejects.toMatchObject({ exitCode: 2 }); // the child blamed its input
    await expect(run).rejects.toThrow(/BYOL \(scrl pretrain --set\) exited with 2; its log .*bad\.log ends:\n(.|\n)*unknown key 'nope\.x'/);
    expect(fs.readFileSync(path.join(tmp, 'good.log'), 'utf8')).toMatch(/\d+\.\d+\.\d+/);
  }, 60_000);
});
