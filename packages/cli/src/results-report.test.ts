/**
 * tools/experiments/results.js --stage report: docs/results.json and docs/results.md rendered
 * from finished evaluations (here synthetic metrics.json files in a temporary folder), with the
 * paired differences and orderings computed per seed.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.join(__dirname, '..', '..', '..');

function write(dir: string, metrics: unknown): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'metrics.json'), JSON.stringify(metrics));
}

describe('tools/experiments/results.js --stage report', () => {
  it('writes per-seed values, paired differences and an at-a-glance row per evaluation', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-results-'));
    // Box probe top-1 (fractions in metrics.json, % in the report): seed 0 random < BYOL < SCRL,
    // seed 1 BYOL < random < SCRL.
    const box = { random: [0.3, 0.36], byol: [0.32, 0.3], scrl: [0.4, 0.38] };
    for (const [init, v] of Object.entries(box)) v.forEach((top1, seed) => write(path.join(out, 'box', `${init}-s${seed}`), { result: { top1 } }));
    // Frozen detection: only seed 0 has all three; BYOL's seed 1 is missing.
    write(path.join(out, 'frozen', 'random-s0'), { stats: { AP: 0.08 } });
    write(path.join(out, 'frozen', 'byol-s0'), { stats: { AP: 0.15 } });
    write(path.join(out, 'frozen', 'scrl-s0'), { stats: { AP: 0.17 } });
    write(path.join(out, 'frozen', 'random-s1'), { stats: { AP: 0.1 } });
    const json = path.join(out, 'results.json');
    const md = path.join(out, 'results.md');
    const r = spawnSync(process.execPath, [path.join(root, 'tools', 'experiments', 'results.js'), '--out', out, '--seeds', '0', '--stage', 'report', '--json', json, '--md', md], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    const results = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(results.seeds).toEqual([0, 1]); // seed 1 found on disk though only 0 was asked for
    expect(results.boxProbe).toEqual({ random: { top1: [30, 36] }, byol: { top1: [32, 30] }, scrl: { top1: [40, 38] } });
    expect(results.detectionFrozen.byol.ap).toEqual([15, null]);
    expect(results.denseProbe.random.miou).toEqual([null, null]);
    const text = fs.readFileSync(md, 'utf8');
    // BYOL − random: +2 and −6 → mean −2.0, 1 of 2 above 0; SCRL − random: +10, +2 → 6.0.
    expect(text).toContain('| Box probe (RoIAlign 2x2 on C4+C5, logistic), top-1 | 2 | 33.0 | 31.0 | 39.0 | -2.0 (1/2) | 6.0 (2/2) | 8.0 (2/2) | 1 of 2 |');
    expect(text).toContain('| Detection, frozen backbone (1600 scenes, 1500 steps), COCO AP | 1 | 8.0 | 15.0 | 17.0 | 7.0 (1/1) | 9.0 (1/1) | 2.0 (1/1) | 1 of 1 |');
    expect(text).toContain('| Dense probe (stride-4 cells, linear), mIoU | 0 | n/a |');
    expect(text).toContain('| BYOL | 15.0 (1 seed) | 15.0 | not run |');
    expect(text).toContain('| BYOL − random | -2.0 ± 5.7 | 1 of 2 |');
    expect(text).toContain('Ordering by mean: BYOL 31.0 < random 33.0 < SCRL 39.0. random < BYOL < SCRL holds in 1 of 2 seed(s).');
    fs.rmSync(out, { recursive: true, force: true });
  });
});
