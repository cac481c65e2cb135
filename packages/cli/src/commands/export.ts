import * as fs from 'node:fs';
import * as path from 'node:path';
import { exportTorchvisionWeights } from '@scrl/models';
import { stringOption, type Command } from '../command';
import { UsageError } from '../errors';
import { backboneFromCheckpoint, checkpointAt, setupBackend } from '../shared';
import { exportTorchRun } from './torch-run';

export const exportCommand: Command = {
  name: 'export',
  summary: "export a pretrain run's online backbone as safetensors (torchvision or detectron2 names), or the run for PyTorch (torch-run)",
  description:
    'Reads the newest valid checkpoint of a run folder (or the ckpt-*.json given) and writes the\n' +
    'online backbone in PyTorch layouts. torchvision: state_dict names, loads with\n' +
    'load_state_dict(strict=True) into a ResNet of the same depth and width. detectron2: the names\n' +
    "detectron2's convert-torchvision-to-d2.py produces. A model pretrained with the small-input\n" +
    'stem (model.smallInput, the cpu preset) has a 3x3 conv1 and needs the same stem in PyTorch.\n' +
    'torch-run: a run folder --out DIR with everything to continue the same run on PyTorch\n' +
    '(online and target networks, LARS momentum, step, schedules, config, data order), for\n' +
    "python/scrl_torch's torchrun trainer; its checkpoints come back with scrl pretrain --resume\n" +
    '(docs/scale.md).',
  options: [
    { name: 'checkpoint', type: 'string', valueName: 'DIR|FILE', description: 'pretrain run folder, checkpoints folder or ckpt-*.json' },
    { name: 'format', type: 'string', valueName: 'NAME', description: 'torchvision, detectron2 or torch-run', defaultText: 'torchvision' },
    { name: 'out', type: 'string', valueName: 'FILE|DIR', description: 'output .safetensors file (torch-run: a new folder)' },
    { name: 'data', type: 'string', valueName: 'DIR', description: "torch-run: the run's image folder", defaultText: "the run's config.json" },
  ],
  examples: [
    'scrl export --checkpoint runs/pretrain-2026-01-01T00-00-00 --out r18-scrl.safetensors',
    'scrl export --checkpoint runs/r18 --format detectron2 --out r18-scrl-d2.safetensors',
    'scrl export --checkpoint runs/r18 --format torch-run --out runs/r18-torch',
  ],
  async run({ values, io }) {
    const target = stringOption(values, 'checkpoint');
    if (!target) throw new UsageError('--checkpoint DIR|FILE is required', 'export');
    const format = stringOption(values, 'format') ?? 'torchvision';
    if (format !== 'torchvision' && format !== 'detectron2' && format !== 'torch-run') {
      throw new UsageError(`--format must be torchvision, detectron2 or torch-run, got '${format}'`, 'export');
    }
    const out = stringOption(values, 'out');
    if (format === 'torch-run') {
      if (!out) throw new UsageError('--out DIR (a new folder) is required', 'export');
      const ckpt = checkpointAt(target, '--checkpoint');
      const checkpoints = path.dirname(ckpt.path);
      const runDir = path.basename(checkpoints) === 'checkpoints' ? path.dirname(checkpoints) : null;
      const info = exportTorchRun(ckpt, out, { runDir, data: stringOption(values, 'data') });
      io.err(
        `[scrl] exported ${info.method} run at step ${info.step} of ${info.plan.totalSteps} from ${ckpt.path} as torch-run; ` +
          `data ${info.data.folder ?? '(pass --data to the trainer)'}. Continue with:\n  ${info.continue.torch}`,
      );
      io.out(path.resolve(out));
      return;
    }
    if (!out) throw new UsageError('--out FILE.safetensors is required', 'export');
    if (!out.endsWith('.safetensors')) throw new UsageError(`--out must end with .safetensors, got '${out}'`, 'export');
    await setupBackend(values, io);
    const ckpt = checkpointAt(target, '--checkpoint');
    const { model, config } = backboneFromCheckpoint(ckpt);
    try {
      const bytes = exportTorchvisionWeights(model, { naming: format });
      fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
      fs.writeFileSync(out, bytes);
      io.err(
        `[scrl] exported ${config.method} ResNet-${config.model.depth} (width ${config.model.baseWidth}) from ${ckpt.path} ` +
          `(step ${ckpt.step}) as ${format}: ${bytes.byteLength} bytes`,
      );
    } finally {
      model.dispose();
    }
    io.out(path.resolve(out));
  },
};
