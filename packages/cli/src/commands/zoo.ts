/**
 * `scrl zoo list | add | build`: the model zoo of pretrained backbones (see ../zoo.ts and
 * zoo/README.md). Every entry is made by this code: `add` exports the online backbone of a
 * `scrl pretrain` checkpoint (or takes a torchvision-named file with its recorded command),
 * `build` runs the documented pretraining runs (experiments/regime/run.sh) and exports them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { generateScenes } from '@scrl/data';
import { exportTorchvisionWeights } from '@scrl/models';
import { findLatestCheckpoint } from '@scrl/trainer';
import type { Checkpoint, TrainConfig } from '@scrl/trainer';
import { commandLine, intOption, listOption, stringOption, type Command, type CommandIO } from '../command';
import { UsageError } from '../errors';
import { backboneFromCheckpoint, backboneFromInit, checkpointAt, configFromFlags, setupBackend } from '../shared';
import {
  DEFAULT_ZOO,
  defaultEntryName,
  entryFix,
  gitCommit,
  readZoo,
  recordedPath,
  sha256File,
  verifyEntry,
  writeEntry,
  ZooError,
  resolveCommit,
  type ZooArchitecture,
  type ZooManifest,
} from '../zoo';
import { trainWithInterrupt } from './pretrain';

const ZOO_OPTION = { name: 'zoo', type: 'string' as const, valueName: 'DIR', description: 'zoo folder', defaultText: DEFAULT_ZOO };

/**
 * The documented pretraining runs behind the zoo: experiments/regime/run.sh, as data. `scrl zoo
 * build` runs exactly these (a test checks them against run.sh's flags).
 */
export const REGIME_RECIPE = {
  scenes: { images: 4000, size: 64, minObjects: 1, maxObjects: 6, seed: 1, dir: '.scrl-cache/regime-scenes-4000' },
  overrides: [
    'model.baseWidth=16',
    'batch.size=64',
    'schedule.steps=2000',
    'schedule.warmupSteps=100',
    'ema.baseMomentum=0.99',
    'checkpoint.every=250',
    'checkpoint.keep=0',
  ],
  /**
   * LARS base lr: run.sh's third argument, set after `schedule.warmupSteps`. The comparison's
   * runs use 7.2 (at run.sh's default 0.45 the convolutions moved 4.4 % in 1000 steps at batch
   * 64: experiments/regime/README.md).
   */
  baseLr: '7.2',
  /** run.sh's default base lr; other values add `-blr<lr>` to the run's folder name. */
  defaultBaseLr: '0.45',
  checkpointEvery: 50,
  workers: 1,
  runs: 'experiments/regime',
  /** run.sh's flags for a base lr, in run.sh's order. */
  sets(lr: string): string[] {
    const o = REGIME_RECIPE.overrides;
    const at = o.indexOf('schedule.warmupSteps=100') + 1;
    return [...o.slice(0, at), `optimizer.baseLr=${lr}`, ...o.slice(at)];
  },
  /** The run's folder name, as run.sh names it. */
  runName: (method: string, seed: number, lr: string) => `${method}-s${seed}${lr === REGIME_RECIPE.defaultBaseLr ? '' : `-blr${lr}`}`,
  command: (method: string, seed: number, lr: string) => `bash experiments/regime/run.sh ${method} ${seed} ${lr}`,
};

/** `<run>/config.json` beside a checkpoints folder, if it is there. */
function runConfigOf(ckpt: Checkpoint): Record<string, unknown> | null {
  const dir = path.dirname(ckpt.path);
  const run = path.basename(dir) === 'checkpoints' ? path.dirname(dir) : dir;
  const file = path.join(run, 'config.json');
  if (!fs.existsSync(file)) return null;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** Adds (or, with replace, replaces) the zoo entry of a pretraining checkpoint's online backbone. */
export function addFromCheckpoint(options: {
  ckpt: Checkpoint;
  zoo: string;
  name?: string;
  command?: string;
  commit?: string;
  replace?: boolean;
  addedBy: string;
  notes?: string[];
}): ReturnType<typeof writeEntry> {
  const { ckpt } = options;
  const { model, config } = backboneFromCheckpoint(ckpt);
  let bytes: Uint8Array;
  try {
    bytes = exportTorchvisionWeights(model, { naming: 'torchvision' });
  } finally {
    model.dispose();
  }
  const runConfig = runConfigOf(ckpt);
  const command = options.command ?? (typeof runConfig?.command === 'string' ? runConfig.command : undefined);
  if (!command) {
    throw new UsageError(
      `--command is required: ${ckpt.path} does not record the command that made it (its run's config.json has no 'command'). ` +
        "Pass the pretraining command, e.g. --command 'bash experiments/regime/run.sh byol 0 7.2'.",
      'zoo add',
    );
  }
  const runCommit = typeof runConfig?.commit === 'string' ? runConfig.commit : null;
  const head = gitCommit();
  const commit = options.commit
    ? { sha: resolveCommit(options.commit), source: '--commit' }
    : runCommit
      ? { sha: runCommit, source: "the run's config.json (commit the run was last started or resumed at)" }
      : { sha: head, source: 'HEAD of the working tree when the entry was added (the checkpoint does not record one)' };
  const arch: ZooArchitecture = { depth: config.model.depth, smallInput: config.model.smallInput, baseWidth: config.model.baseWidth };
  const plan = ckpt.state.plan as { totalSteps?: number } | undefined;
  // The sidecar records its tensor file's sha256 and when it was written.
  const sidecar = JSON.parse(fs.readFileSync(ckpt.path, 'utf8')) as { tensors?: { sha256?: string }; createdAt?: string };
  return writeEntry(
    options.zoo,
    bytes,
    {
      name: options.name ?? defaultEntryName(config.method, arch, config.seed),
      method: config.method,
      seed: config.seed,
      steps: ckpt.step,
      totalSteps: plan?.totalSteps ?? config.schedule.steps ?? null,
      architecture: arch,
      command,
      commit,
      config,
      source: {
        kind: 'checkpoint',
        path: recordedPath(ckpt.path),
        sha256: sidecar.tensors?.sha256 ?? sha256File(ckpt.path),
        createdAt: sidecar.createdAt ?? null,
        ...(options.notes?.length ? { notes: options.notes } : {}),
      },
      added: { command: options.addedBy, at: new Date().toISOString(), commit: head },
    },
    { replace: options.replace },
  );
}

/** The sidecar `.json` a tool wrote beside a `.safetensors` file (tools/experiments/supervised-backbone.js), if any. */
function sidecarOf(file: string): { path: string; data: Record<string, unknown> } | null {
  const side = file.replace(/\.safetensors$/, '.json');
  if (side === file || !fs.existsSync(side)) return null;
  try {
    return { path: side, data: JSON.parse(fs.readFileSync(side, 'utf8')) as Record<string, unknown> };
  } catch (err) {
    throw new UsageError(`--from: ${side} (the record beside the weights) is not valid JSON: ${(err as Error).message}`, 'zoo add');
  }
}

function describeManifest(m: ZooManifest): string {
  return `${m.name} (${m.method}, step ${m.steps}${m.totalSteps ? ` of ${m.totalSteps}` : ''}, seed ${m.seed}, sha256 ${m.sha256.slice(0, 12)})`;
}

function reportWritten(io: CommandIO, r: ReturnType<typeof writeEntry>): void {
  io.err(
    r.replaced
      ? `[scrl] zoo: replaced ${describeManifest(r.replaced)} with ${describeManifest(r.manifest)}`
      : `[scrl] zoo: added ${describeManifest(r.manifest)}`,
  );
  io.out(path.resolve(r.manifestPath));
}

export const zooAdd: Command = {
  name: 'zoo add',
  summary: 'add (or replace) a zoo entry from a pretraining checkpoint or a torchvision .safetensors with its record',
  description:
    "--from a checkpoint (ckpt-*.json, or a run folder: its newest checkpoint): exports the online\n" +
    "backbone as torchvision-named safetensors into the zoo and writes the manifest: method, seed,\n" +
    "step, the run's config, the command that made it (--command, or the run's config.json), the\n" +
    "commit, the file's sha256 and the checkpoint it came from. --from FILE.safetensors: copies the\n" +
    "file, reading its command, step and seed from the .json beside it (as\n" +
    "tools/experiments/supervised-backbone.js writes) or from --command/--steps/--seed; --method is\n" +
    'required. The entry is named <method>-r<depth>w<width>-s<seed> unless --name is given; an\n' +
    'entry of that name is replaced only with --replace.',
  options: [
    { name: 'from', type: 'string', valueName: 'CKPT|DIR|FILE', description: 'ckpt-*.json, a pretrain run folder, or a torchvision .safetensors' },
    ZOO_OPTION,
    { name: 'name', type: 'string', valueName: 'NAME', description: 'entry name', defaultText: '<method>-r<depth>w<width>-s<seed>' },
    { name: 'replace', type: 'boolean', description: 'overwrite an entry of the same name' },
    { name: 'command', type: 'string', valueName: 'CMD', description: 'the exact command that made the weights', defaultText: "the run's record" },
    { name: 'commit', type: 'string', valueName: 'SHA', description: 'the commit the weights were made at', defaultText: "the run's record, else HEAD" },
    { name: 'method', type: 'string', valueName: 'NAME', description: '.safetensors only: how the weights were trained (e.g. supervised)' },
    { name: 'steps', type: 'string', valueName: 'N', description: '.safetensors only: training steps', defaultText: "the record's step" },
    { name: 'seed', type: 'string', valueName: 'S', description: '.safetensors only: seed', defaultText: "the record's settings.seed" },
    { name: 'note', type: 'string', multiple: true, valueName: 'TEXT', description: 'a line of provenance to keep in the manifest' },
  ],
  examples: [
    "scrl zoo add --from experiments/regime/byol-s0-blr7.2/checkpoints/ckpt-00002000.json --command 'bash experiments/regime/run.sh byol 0 7.2' --replace",
    'scrl zoo add --from experiments/supervised/r18w16-supervised-seed0-1000steps.safetensors --method supervised',
  ],
  async run({ values, io, argv }) {
    const from = stringOption(values, 'from');
    if (!from) throw new UsageError('--from CKPT.json|RUN_DIR|FILE.safetensors is required', 'zoo add');
    if (!fs.existsSync(from)) throw new UsageError(`--from: '${from}' does not exist`, 'zoo add');
    const zoo = stringOption(values, 'zoo') ?? DEFAULT_ZOO;
    const addedBy = commandLine(argv ?? ['zoo', 'add', '--from', from]);
    const notes = listOption(values, 'note');
    await setupBackend(values, io);
    if (from.endsWith('.safetensors')) {
      const method = stringOption(values, 'method');
      if (!method) throw new UsageError('--method NAME is required with a .safetensors file (e.g. --method supervised)', 'zoo add');
      const side = sidecarOf(from);
      const command = stringOption(values, 'command') ?? (typeof side?.data.command === 'string' ? side.data.command : undefined);
      const settings = (side?.data.settings ?? {}) as Record<string, unknown>;
      const steps = intOption(values, 'steps', 0) ?? (typeof side?.data.step === 'number' ? side.data.step : undefined);
      const seed = intOption(values, 'seed', 0) ?? (typeof settings.seed === 'number' ? settings.seed : undefined);
      const missing = [!command && '--command', steps === undefined && '--steps', seed === undefined && '--seed'].filter(Boolean);
      if (missing.length) {
        throw new UsageError(
          `${missing.join(', ')} required: ${from} has no record beside it (${from.replace(/\.safetensors$/, '.json')}) giving them`,
          'zoo add',
        );
      }
      // Loading checks the file and reads its architecture off the weights.
      const { model } = backboneFromInit(from, configFromFlags({}), io);
      const arch: ZooArchitecture = { depth: model.depth, smallInput: model.smallInput, baseWidth: model.baseWidth };
      model.dispose();
      const head = gitCommit();
      const r = writeEntry(
        zoo,
        fs.readFileSync(from),
        {
          name: stringOption(values, 'name') ?? defaultEntryName(method, arch, seed as number),
          method,
          seed: seed as number,
          steps: steps as number,
          totalSteps: typeof settings.steps === 'number' ? settings.steps : null,
          architecture: arch,
          command: command as string,
          commit: stringOption(values, 'commit')
            ? { sha: resolveCommit(stringOption(values, 'commit') as string), source: '--commit' }
            : { sha: head, source: 'HEAD of the working tree when the entry was added (the file does not record one)' },
          config: side ? { ...side.data, history: undefined } : null,
          source: {
            kind: 'safetensors',
            path: recordedPath(from),
            sha256: sha256File(from),
            createdAt: null,
            notes: [...(side ? [`record: ${recordedPath(side.path)}`] : []), ...notes],
          },
          added: { command: addedBy, at: new Date().toISOString(), commit: head },
        },
        { replace: values.replace === true },
      );
      reportWritten(io, r);
      return;
    }
    const ckpt = checkpointAt(from, '--from');
    const r = addFromCheckpoint({
      ckpt,
      zoo,
      name: stringOption(values, 'name'),
      command: stringOption(values, 'command'),
      commit: stringOption(values, 'commit'),
      replace: values.replace === true,
      addedBy,
      notes,
    });
    reportWritten(io, r);
  },
};

export const zooList: Command = {
  name: 'zoo list',
  summary: 'list the zoo entries and check every file against its recorded sha256',
  description:
    'Prints one row per entry (name, method, steps, seed, architecture, size, check). A missing file\n' +
    'or a sha256 that differs from the manifest is reported for each entry and the command exits 2.\n' +
    '--json prints the manifests (with a "check" field) instead of the table.',
  options: [ZOO_OPTION, { name: 'json', type: 'boolean', description: 'print JSON' }],
  examples: ['scrl zoo list', 'scrl zoo list --zoo zoo --json'],
  async run({ values, io }) {
    const zoo = stringOption(values, 'zoo') ?? DEFAULT_ZOO;
    const entries = readZoo(zoo);
    const checked = entries.map((e) => ({ e, why: verifyEntry(e) }));
    if (values.json === true) {
      io.out(JSON.stringify(checked.map(({ e, why }) => ({ ...e.manifest, config: undefined, check: why ?? 'ok' })), null, 2));
    } else {
      io.out('| name | method | steps | seed | architecture | MB | sha256 | check |');
      io.out('|---|---|---:|---:|---|---:|---|---|');
      for (const { e, why } of checked) {
        const m = e.manifest;
        const a = m.architecture;
        io.out(
          `| ${m.name} | ${m.method} | ${m.steps}${m.totalSteps ? ` / ${m.totalSteps}` : ''} | ${m.seed} | ` +
            `ResNet-${a.depth}${a.smallInput ? ' small-input' : ''} w${a.baseWidth} | ${(m.bytes / 1e6).toFixed(1)} | ${m.sha256.slice(0, 12)} | ${why ? why.split(':')[0] : 'ok'} |`,
        );
      }
      if (!entries.length) io.err(`[scrl] zoo ${zoo} has no entries; add one with 'scrl zoo add --from CKPT.json'`);
    }
    const bad = checked.filter((c) => c.why);
    if (bad.length) {
      throw new ZooError(bad.map(({ e, why }) => `zoo entry '${e.manifest.name}': ${why}; ${entryFix(e.manifest)}.`).join('\n'));
    }
    io.err(`[scrl] zoo ${path.resolve(zoo)}: ${entries.length} entries, every file matches its sha256`);
  },
};

export const zooBuild: Command = {
  name: 'zoo build',
  summary: 'run (or resume) the documented pretraining runs (experiments/regime/run.sh) and add their backbones to the zoo',
  description:
    'For each --method and --seeds, runs the pretraining of experiments/regime/run.sh (ResNet-18\n' +
    'small-input width 16, 32 px views, batch 64, 2000 steps, EMA 0.99, on 4000 generated scenes of\n' +
    '1 to 6 objects, seed 1; LARS base lr --base-lr, default 7.2) into --runs/<method>-s<seed>-blr<lr>\n' +
    '(run.sh\'s folder name), resuming from its newest checkpoint, and\n' +
    'replaces the zoo entry with the backbone of the newest checkpoint. --max-steps N stops each run\n' +
    "at step N (the schedule keeps its length) and exports that step. Ctrl-C stops after the current\n" +
    'step with a checkpoint; the same command continues. --set and --images change the recipe and\n' +
    'are recorded in the entry (for tests and experiments).',
  options: [
    ZOO_OPTION,
    { name: 'method', type: 'string', valueName: 'M,M', description: 'methods to build', defaultText: 'byol,scrl' },
    { name: 'seeds', type: 'string', valueName: 'S,S', description: 'seeds to build', defaultText: '0' },
    { name: 'runs', type: 'string', valueName: 'DIR', description: 'folder of the pretraining runs', defaultText: REGIME_RECIPE.runs },
    { name: 'base-lr', type: 'string', valueName: 'LR', description: "LARS base lr (run.sh's third argument)", defaultText: REGIME_RECIPE.baseLr },
    { name: 'max-steps', type: 'string', valueName: 'N', description: 'stop each run at step N (default: the whole schedule)' },
    { name: 'images', type: 'string', valueName: 'N', description: 'generated scenes to pretrain on', defaultText: String(REGIME_RECIPE.scenes.images) },
    { name: 'set', type: 'string', multiple: true, valueName: 'KEY=VALUE', description: 'extra config override after the recipe' },
    { name: 'cache', type: 'string', valueName: 'DIR', description: 'folder of the generated scenes', defaultText: '.scrl-cache' },
  ],
  examples: ['scrl zoo build', 'scrl zoo build --method byol --seeds 0,1,2', 'scrl zoo build --method scrl --max-steps 1000'],
  async run({ values, io, argv }) {
    const zoo = stringOption(values, 'zoo') ?? DEFAULT_ZOO;
    const methods = (stringOption(values, 'method') ?? 'byol,scrl').split(',').map((s) => s.trim());
    for (const m of methods) if (m !== 'byol' && m !== 'scrl') throw new UsageError(`--method: '${m}' is not byol or scrl`, 'zoo build');
    const seedsText = stringOption(values, 'seeds') ?? '0';
    const seeds = seedsText.split(',').map((s) => Number(s.trim()));
    if (seeds.some((s) => !Number.isInteger(s) || s < 0)) throw new UsageError(`--seeds must be integers >= 0 separated by commas, got '${seedsText}'`, 'zoo build');
    const runsDir = stringOption(values, 'runs') ?? REGIME_RECIPE.runs;
    const lr = stringOption(values, 'base-lr') ?? REGIME_RECIPE.baseLr;
    if (!(Number(lr) > 0) || !/^[0-9.]+$/.test(lr)) throw new UsageError(`--base-lr must be a number > 0 such as 7.2, got '${lr}'`, 'zoo build');
    const maxSteps = intOption(values, 'max-steps', 1);
    const images = intOption(values, 'images', 1) ?? REGIME_RECIPE.scenes.images;
    const extra = listOption(values, 'set');
    const cache = stringOption(values, 'cache') ?? process.env.SCRL_CACHE_DIR ?? '.scrl-cache';
        const recipeChanged = extra.length > 0 || images !== REGIME_RECIPE.scenes.images;
    await setupBackend(values, io);

    const s = REGIME_RECIPE.scenes;
    const scenesDir = images === s.images ? path.join(cache, path.basename(s.dir)) : path.join(cache, `regime-scenes-${images}`);
    if (!fs.existsSync(path.join(scenesDir, 'annotations.json'))) {
      io.err(`[scrl] zoo build: generating ${images} scenes (64 px, 1-6 objects, seed ${s.seed}) into ${scenesDir}`);
      await generateScenes({ out: scenesDir, images, seed: s.seed, size: s.size, minObjects: s.minObjects, maxObjects: s.maxObjects });
    }
    const jobs = methods.flatMap((method) => seeds.map((seed) => ({ method, seed })));
    for (let i = 0; i < jobs.length; i++) {
      const { method, seed } = jobs[i];
      const out = path.join(runsDir, REGIME_RECIPE.runName(method, seed, lr));
      const config: TrainConfig = configFromFlags({ set: [`seed=${seed}`, ...REGIME_RECIPE.sets(lr), ...extra] }, [`method=${method}`]);
      const existing = fs.existsSync(path.join(out, 'checkpoints')) ? findLatestCheckpoint(path.join(out, 'checkpoints'), { warn: (l) => io.err(l) }) : null;
      if (config.schedule.steps === null) throw new UsageError('zoo build needs a fixed schedule.steps (the recipe sets 2000)', 'zoo build');
      const target = Math.min(maxSteps ?? config.schedule.steps, config.schedule.steps);
      const label = `[scrl] zoo build ${i + 1}/${jobs.length}: ${method} seed ${seed}`;
      if (existing && existing.step >= target) {
        io.err(`${label}: ${out} is at step ${existing.step} (target ${target}); exporting it`);
      } else {
        io.err(`${label}: ${existing ? `resuming ${out} from step ${existing.step}` : `starting ${out}`} -> step ${target} of ${config.schedule.steps}`);
        await trainWithInterrupt(io, {
          config,
          out,
          data: path.join(scenesDir, 'images'),
          resume: existing !== null,
          maxSteps: maxSteps ?? undefined,
          checkpointEvery: REGIME_RECIPE.checkpointEvery,
          workers: REGIME_RECIPE.workers,
        });
      }
      const ckpt = checkpointAt(out, '--runs');
      const command = recipeChanged
        ? commandLine(argv ?? ['zoo', 'build', '--method', method, '--seeds', String(seed)])
        : REGIME_RECIPE.command(method, seed, lr);
      const r = addFromCheckpoint({
        ckpt,
        zoo,
        command,
        replace: true,
        addedBy: commandLine(argv ?? ['zoo', 'build']),
        notes: recipeChanged ? ['built with a recipe changed from experiments/regime/run.sh (--set / --images)'] : [],
      });
      reportWritten(io, r);
    }
  },
};
