/**
 * The model zoo end to end at tiny sizes: a 2-step pretrain -> scrl zoo add -> list (sha256
 * checked), the errors for an altered or missing file and for a checkpoint without its command,
 * a .safetensors with its record, scrl zoo build (run, resume, export), scrl demo --from-zoo,
 * and the recipe of zoo build against experiments/regime/run.sh.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { main } from './main';
import type { CommandIO } from './command';
import { REGIME_RECIPE } from './commands/zoo';
import { resultsSummaryLines, zooComparisonLines, zooTable, zooVerdict } from './commands/demo-zoo';
import { sha256File, type ZooManifest } from './zoo';

function capture(): CommandIO & { outLines: string[]; errLines: string[] } {
  const outLines: string[] = [];
  const errLines: string[] = [];
  return { outLines, errLines, out: (l) => outLines.push(l), err: (l) => errLines.push(l), isTTY: false };
}

async function scrl(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const io = capture();
  const code = await main(args, io);
  return { code, out: io.outLines, err: io.errLines };
}

/** A ResNet-18 of width 4 on 16 px views, 4 images per step. */
const SMALL = [
  'model.baseWidth=4',
  'views.size=16',
  'batch.size=4',
  'model.projector.hiddenDim=32',
  'model.projector.outDim=16',
  'model.predictor.hiddenDim=32',
  'schedule.steps=10',
  'schedule.warmupSteps=1',
].flatMap((kv) => ['--set', kv]);

let tmp: string;
let run: string;
let ckpt: string;
const manifestOf = (zoo: string, name: string): ZooManifest => JSON.parse(fs.readFileSync(path.join(zoo, `${name}.json`), 'utf8'));

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-zoo-'));
  const scenes = path.join(tmp, 'scenes');
  expect((await scrl(['data', 'generate', '--out', scenes, '--images', '16', '--size', '32'])).code).toBe(0);
  run = path.join(tmp, 'run');
  const r = await scrl(['pretrain', '--data', path.join(scenes, 'images'), '--out', run, ...SMALL, '--max-steps', '2', '--checkpoint-every', '1', '--workers', '0', '--backend', 'wasm']);
  expect(r.code).toBe(0);
  ckpt = path.join(run, 'checkpoints', 'ckpt-00000002.json');
}, 120_000);

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('scrl zoo add / list', () => {
  it('adds a checkpoint with the command, config, step and commit of its run, and lists it verified', async () => {
    const zoo = path.join(tmp, 'zoo');
    const r = await scrl(['zoo', 'add', '--from', ckpt, '--zoo', zoo, '--backend', 'wasm']);
    expect([r.code, r.err.filter((l) => l.startsWith('scrl: error'))]).toEqual([0, []]);
    expect(r.out).toEqual([path.resolve(zoo, 'scrl-r18w4-s0.json')]);
    const m = manifestOf(zoo, 'scrl-r18w4-s0');
    const runRecord = JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8'));
    expect(runRecord.command).toMatch(/^scrl pretrain --data .* --max-steps 2 --checkpoint-every 1 --workers 0 --backend wasm$/);
    expect(m).toMatchObject({
      format: 'scrl-zoo-entry',
      method: 'scrl',
      seed: 0,
      steps: 2,
      totalSteps: 10,
      architecture: { depth: 18, smallInput: true, baseWidth: 4 },
      file: 'scrl-r18w4-s0.safetensors',
      command: runRecord.command,
      commit: { sha: runRecord.commit },
      source: { kind: 'checkpoint' },
    });
    expect(m.config).toEqual(runRecord.config);
    expect(m.sha256).toBe(sha256File(path.join(zoo, m.file)));
    expect(m.bytes).toBe(fs.statSync(path.join(zoo, m.file)).size);
    const list = await scrl(['zoo', 'list', '--zoo', zoo]);
    expect(list.code).toBe(0);
    expect(list.out[2]).toMatch(/^\| scrl-r18w4-s0 \| scrl \| 2 \/ 10 \| 0 \| ResNet-18 small-input w4 \| 0\.2 \| [0-9a-f]{12} \| ok \|$/);
  }, 60_000);

  it('replaces an entry only with --replace, and says what it replaced', async () => {
    const zoo = path.join(tmp, 'zoo-replace');
    expect((await scrl(['zoo', 'add', '--from', path.join(run, 'checkpoints', 'ckpt-00000001.json'), '--zoo', zoo])).code).toBe(0);
    const again = await scrl(['zoo', 'add', '--from', ckpt, '--zoo', zoo]);
    expect(again.code).toBe(2);
    expect(again.err.join('\n')).toMatch(/zoo entry 'scrl-r18w4-s0' exists .*step 1.*pass --replace/);
    const replaced = await scrl(['zoo', 'add', '--from', ckpt, '--zoo', zoo, '--replace']);
    expect(replaced.code).toBe(0);
    expect(replaced.err.join('\n')).toMatch(/replaced scrl-r18w4-s0 \(scrl, step 1 of 10.*with scrl-r18w4-s0 \(scrl, step 2 of 10/);
    expect(manifestOf(zoo, 'scrl-r18w4-s0').steps).toBe(2);
  }, 60_000);

  it('fails with the entry, both hashes and the fix when a file was altered, and when it is missing', async () => {
    const zoo = path.join(tmp, 'zoo-bad');
    expect((await scrl(['zoo', 'add', '--from', ckpt, '--zoo', zoo, '--name', 'tiny'])).code).toBe(0);
    const file = path.join(zoo, 'tiny.safetensors');
    const recorded = manifestOf(zoo, 'tiny').sha256;
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 1] ^= 1;
    fs.writeFileSync(file, bytes);
    const altered = await scrl(['zoo', 'list', '--zoo', zoo]);
    expect(altered.code).toBe(2);
    expect(altered.out[2]).toMatch(/\| sha256 mismatch \|$/);
    const msg = altered.err.join('\n');
    expect(msg).toContain(`zoo entry 'tiny': sha256 mismatch: ${file} has ${sha256File(file)}, the manifest`);
    expect(msg).toContain(`records ${recorded}`);
    expect(msg).toMatch(/re-add it with 'scrl zoo add --from .*ckpt-00000002\.json --replace'/);
    const demo = await scrl(['demo', '--from-zoo', '--zoo', zoo, '--out', path.join(tmp, 'demo-bad')]);
    expect(demo.code).toBe(2);
    expect(demo.err.join('\n')).toContain("zoo entry 'tiny': sha256 mismatch");
    fs.rmSync(file);
    const missing = await scrl(['zoo', 'list', '--zoo', zoo]);
    expect(missing.code).toBe(2);
    expect(missing.err.join('\n')).toContain(`zoo entry 'tiny': missing: ${file} does not exist`);
    const none = await scrl(['zoo', 'list', '--zoo', path.join(tmp, 'no-such-zoo')]);
    expect(none.code).toBe(2);
    expect(none.err.join('\n')).toMatch(/zoo folder '.*no-such-zoo' does not exist; pass --zoo DIR/);
  }, 60_000);

  it('asks for --command when the checkpoint does not record one, and takes it from the flag', async () => {
    const old = path.join(tmp, 'old-run');
    fs.cpSync(run, old, { recursive: true });
    const record = JSON.parse(fs.readFileSync(path.join(old, 'config.json'), 'utf8'));
    delete record.command;
    delete record.commit;
    fs.writeFileSync(path.join(old, 'config.json'), JSON.stringify(record));
    const zoo = path.join(tmp, 'zoo-old');
    const r = await scrl(['zoo', 'add', '--from', old, '--zoo', zoo]);
    expect(r.code).toBe(2);
    expect(r.err.join('\n')).toMatch(/--command is required: .*ckpt-00000002\.json does not record the command/);
    // A commit the repository does not know is refused (a mistyped sha); a known one is stored in full.
    const typo = await scrl(['zoo', 'add', '--from', old, '--zoo', zoo, '--command', 'bash experiments/regime/run.sh scrl 0', '--commit', 'abc1234ffff']);
    expect(typo.code).toBe(2);
    expect(typo.err.join('\n')).toMatch(/--commit abc1234ffff: the git repository at .* has no such commit/);
    const head = spawnSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
    const ok = await scrl(['zoo', 'add', '--from', old, '--zoo', zoo, '--command', 'bash experiments/regime/run.sh scrl 0', '--commit', head.slice(0, 7)]);
    expect(ok.code).toBe(0);
    expect(manifestOf(zoo, 'scrl-r18w4-s0')).toMatchObject({ command: 'bash experiments/regime/run.sh scrl 0', commit: { sha: head, source: '--commit' } });
  }, 60_000);

  it('adds a torchvision .safetensors from its record, or from flags', async () => {
    const zoo = path.join(tmp, 'zoo-file');
    const file = path.join(tmp, 'sup.safetensors');
    expect((await scrl(['export', '--checkpoint', ckpt, '--out', file])).code).toBe(0);
    const bare = await scrl(['zoo', 'add', '--from', file, '--zoo', zoo, '--method', 'supervised']);
    expect(bare.code).toBe(2);
    expect(bare.err.join('\n')).toMatch(/--command, --steps, --seed required: .*sup\.safetensors has no record beside it/);
    fs.writeFileSync(path.join(tmp, 'sup.json'), JSON.stringify({ command: 'node tools/experiments/supervised-backbone.js --steps 7', step: 7, settings: { seed: 3, steps: 7 } }));
    const ok = await scrl(['zoo', 'add', '--from', file, '--zoo', zoo, '--method', 'supervised']);
    expect(ok.code).toBe(0);
    const m = manifestOf(zoo, 'supervised-r18w4-s3');
    expect(m).toMatchObject({ method: 'supervised', seed: 3, steps: 7, totalSteps: 7, command: 'node tools/experiments/supervised-backbone.js --steps 7', source: { kind: 'safetensors' } });
    // Copied as is: the same bytes as the file given.
    expect(m.sha256).toBe(sha256File(file));
  }, 60_000);
});

describe('scrl zoo build', () => {
  it('runs the recipe to --max-steps, exports it, and resumes the run on the next call', async () => {
    const zoo = path.join(tmp, 'zoo-build');
    const runs = path.join(tmp, 'runs');
    const args = ['zoo', 'build', '--method', 'byol', '--seeds', '0', '--zoo', zoo, '--runs', runs, '--images', '16', '--cache', path.join(tmp, 'cache'), ...SMALL, '--backend', 'wasm'];
    const first = await scrl([...args, '--max-steps', '1']);
    expect([first.code, first.err.filter((l) => l.startsWith('scrl: error'))]).toEqual([0, []]);
    expect(first.err.join('\n')).toContain(`zoo build 1/1: byol seed 0: starting ${path.join(runs, 'byol-s0-blr7.2')} -> step 1 of 10`);
    const m1 = manifestOf(zoo, 'byol-r18w4-s0');
    expect(m1).toMatchObject({ method: 'byol', seed: 0, steps: 1, totalSteps: 10 });
    expect(m1.command).toMatch(/^scrl zoo build --method byol .* --max-steps 1$/);
    expect(m1.source.notes).toEqual(['built with a recipe changed from experiments/regime/run.sh (--set / --images)']);
    expect((m1.config as { ema: { baseMomentum: number } }).ema.baseMomentum).toBe(0.99);
    const second = await scrl([...args, '--max-steps', '2']);
    expect(second.code).toBe(0);
    expect(second.err.join('\n')).toContain('resuming');
    expect(second.err.join('\n')).toMatch(/replaced byol-r18w4-s0 \(byol, step 1 of 10.*step 2 of 10/);
    const third = await scrl([...args, '--max-steps', '2']);
    expect(third.err.join('\n')).toContain('is at step 2 (target 2); exporting it');
    expect(manifestOf(zoo, 'byol-r18w4-s0').sha256).toBe(manifestOf(zoo, 'byol-r18w4-s0').sha256);
  }, 120_000);

  it('builds exactly what experiments/regime/run.sh runs', () => {
    const script = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'experiments', 'regime', 'run.sh'), 'utf8');
    // seed 0 as the test's; the base lr is run.sh's optional third argument
    const sets = [...script.matchAll(/--set ([^\s"]+(?:"\$seed"|"\$lr")?)/g)].map((m) => m[1].replace('"$seed"', '0').replace('"$lr"', '7.2'));
    expect(script).toContain(`lr=\${3:-${REGIME_RECIPE.defaultBaseLr}}`);
    expect(sets).toEqual(['seed=0', ...REGIME_RECIPE.sets('7.2')]);
    expect(script).toContain('[ "$lr" = "0.45" ] || suffix="-blr$lr"');
    expect(REGIME_RECIPE.runName('byol', 1, '7.2')).toBe('byol-s1-blr7.2');
    expect(REGIME_RECIPE.runName('byol', 1, '0.45')).toBe('byol-s1');
    const s = REGIME_RECIPE.scenes;
    expect(script).toContain(`--images ${s.images} --size ${s.size} --min-objects ${s.minObjects} --max-objects ${s.maxObjects} --seed ${s.seed}`);
    expect(script).toContain(`data=\${REGIME_DATA:-${s.dir}}`);
    expect(script).toContain(`--checkpoint-every ${REGIME_RECIPE.checkpointEvery} --workers ${REGIME_RECIPE.workers}`);
    expect(script).toContain(`out=\${REGIME_OUT:-${REGIME_RECIPE.runs}}/$method-s$seed$suffix`);
  });
});

describe('scrl demo --from-zoo', () => {
  it('probes every entry beside random init, runs detection when asked, and records the table', async () => {
    const zoo = path.join(tmp, 'zoo-demo');
    expect((await scrl(['zoo', 'add', '--from', ckpt, '--zoo', zoo])).code).toBe(0);
    const out = path.join(tmp, 'demo-zoo');
    const r = await scrl(['demo', '--from-zoo', '--zoo', zoo, '--out', out, '--scenes', '16', '--detection-steps', '2', '--record', '--cache', path.join(tmp, 'cache'), '--backend', 'wasm']);
    expect([r.code, r.err.filter((l) => l.startsWith('scrl: error'))]).toEqual([0, []]);
    expect(r.out[0]).toMatch(/^\| backbone +\| method \| steps \| seed \| box probe top-1 \| box kNN top-1 \| dense mIoU \| detection AP \|$/);
    expect(r.out[2]).toMatch(/^\| random +\| random init \| 0 \| 0 \| \d+\.\d \| \d+\.\d \| \d+\.\d \| \d+\.\d \|$/);
    expect(r.out[3]).toMatch(/^\| scrl-r18w4-s0 \| scrl \| 2 \| 0 \| \d+\.\d \| \d+\.\d \| \d+\.\d \| \d+\.\d \|$/);
    expect(r.out[5]).toMatch(/^scrl-r18w4-s0 \(scrl, 2 steps, seed 0\) against random init: box probe [+-]\d+\.\d, dense probe [+-]\d+\.\d, detection AP [+-]\d+\.\d points\.$/);
    expect(r.out[6]).toMatch(/^Detection: FCOS fine-tuned 2 steps from each backbone/);
    const report = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(report).toContain(r.out[3]);
    expect(report).toMatch(/\*\*scrl-r18w4-s0\*\*: scrl, 2 of 10 steps, seed 0, sha256 [0-9a-f]{64}; made by `scrl pretrain /);
    const figures = JSON.parse(fs.readFileSync(path.join(zoo, 'figures.json'), 'utf8'));
    expect(figures.rows.map((x: { name: string }) => x.name)).toEqual(['random', 'scrl-r18w4-s0']);
    expect(figures.command).toMatch(/^scrl demo --from-zoo --zoo /);
    // The plain demo's comparison from the zoo: the recorded table with its command.
    const lines = zooComparisonLines(zoo);
    expect(lines[0]).toContain(`measured ${figures.measuredAt}`);
    expect(lines[0]).toContain(`\`${figures.command}\``);
    expect(lines.slice(2, 6)).toEqual(zooTable(figures.rows));
    expect(lines).toContain(zooVerdict(figures.rows)[0]);
    // An entry replaced since is marked.
    expect((await scrl(['zoo', 'add', '--from', path.join(run, 'checkpoints', 'ckpt-00000001.json'), '--zoo', zoo, '--replace'])).code).toBe(0);
    expect(zooComparisonLines(zoo)[5]).toMatch(/^\| scrl-r18w4-s0 \(entry changed since\) \|/);
  }, 600_000); // about 20 s of CPU; minutes of wall time on a loaded machine

  it('compares each entry with the random init of its own seed', () => {
    const row = (name: string, method: string, seed: number, box: number) => ({
      name, method, steps: method === 'random init' ? 0 : 2000, seed, sha256: null, boxProbeTop1: box, boxProbeKnnTop1: box, denseProbeMiou: 0.2, detectionAp: null,
    });
    const rows = [row('random-s0', 'random init', 0, 0.3), row('random-s1', 'random init', 1, 0.35), row('byol-s0', 'byol', 0, 0.32), row('scrl-s1', 'scrl', 1, 0.36)];
    expect(zooVerdict(rows)).toEqual([
      'byol-s0 (byol, 2000 steps, seed 0) against random init (seed 0): box probe +2.0, dense probe +0.0 points.',
      'scrl-s1 (scrl, 2000 steps, seed 1) against random init (seed 1): box probe +1.0, dense probe +0.0 points.',
    ]);
    // One random init: every entry against it, as before.
    expect(zooVerdict([rows[0], rows[3]])).toEqual(['scrl-s1 (scrl, 2000 steps, seed 1) against random init: box probe +6.0, dense probe +0.0 points.']);
  });

  it('lists the entries with their commands when no figures are recorded, and says when there is no zoo', async () => {
    const zoo = path.join(tmp, 'zoo-plain');
    expect((await scrl(['zoo', 'add', '--from', ckpt, '--zoo', zoo])).code).toBe(0);
    const lines = zooComparisonLines(zoo);
    expect(lines[0]).toMatch(/evaluate them with `scrl demo --from-zoo`/);
    expect(lines[2]).toMatch(/^- scrl-r18w4-s0: scrl, 2 steps, seed 0, made by `scrl pretrain --data /);
    expect(zooComparisonLines(path.join(tmp, 'nothing'))).toEqual([expect.stringMatching(/^No model zoo at '.*nothing' to compare with/)]);
  }, 60_000);
  it("summarises docs/results.json's detection settings over the seeds with all three inits", () => {
    const file = path.join(tmp, 'results.json');
    expect(resultsSummaryLines(file)).toEqual([]); // no file: nothing to add
    fs.writeFileSync(
      file,
      JSON.stringify({
        detectionFrozen: { random: { ap: [8, 10, 7] }, byol: { ap: [14, 9, 21] }, scrl: { ap: [16, 15, 27] } },
        detectionFewLabels: { random: { ap: [8, null] }, byol: { ap: [13, 9] }, scrl: { ap: [10, 13] } },
        detection: { random: { ap: [34, 38] }, byol: { ap: [29, 26] }, scrl: { ap: [25, 30] } },
        protocol: { pretraining: 'experiments/regime/run.sh METHOD SEED 7.2: ResNet-18 small-input width 16, 2000 steps, 4000 scenes' },
      }),
    );
    const lines = resultsSummaryLines(file);
    expect(lines[0]).toMatch(/^Detection after 2000 pretraining steps, mean over pretraining seeds \(.*results\.json; docs\/results\.md/);
    expect(lines.slice(1)).toEqual([
      // seed 1 has BYOL below random init: the order holds in 2 of 3
      '- frozen backbone (1600 labelled scenes): random 8.3, BYOL 14.7, SCRL 19.3 AP; random < BYOL < SCRL in 2 of 3 seeds; best on average: SCRL',
      // seed 1 lacks random init: only seed 0 counts
      '- 160 labelled scenes, whole network: random 8.0, BYOL 13.0, SCRL 10.0 AP; random < BYOL < SCRL in 0 of 1 seeds; best on average: BYOL',
      '- 1600 labelled scenes, whole network: random 36.0, BYOL 27.5, SCRL 27.5 AP; random < BYOL < SCRL in 0 of 2 seeds; best on average: random init',
    ]);
    fs.writeFileSync(file, '{ not json');
    expect(resultsSummaryLines(file)).toEqual([expect.stringMatching(/could not be read: .*results\.js --stage report/)]);
    fs.writeFileSync(file, 'null');
    expect(resultsSummaryLines(file)).toEqual([expect.stringMatching(/could not be read: it does not hold a JSON object; regenerate/)]);
  });
});
