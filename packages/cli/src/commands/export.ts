import * as fs from 'node:fs';
import * as path from 'node:path';
import { exportTorchvisionWeights } from '@scrl/models';
import { stringOption, type Command } from '../command';
import { UsageError } from '../errors';
import { backboneFromCheckpoint, checkpointAt, setupBackend } from '../shared';

export const exportCommand: Command = {
  name: 'export',
  summary: "export a pretrain run's online backbone as safetensors (torchvision or detectron2 names)",
  description:
    'Reads the newest valid checkpoint of a run folder (or the ckpt-*.json given) and writes the\n' +
    'online backbone in PyTorch layouts. torchvision: state_dict names, loads with\n' +
    'load_state_dict(strict=True) into a ResNet of the same depth and width. detectron2: the names\n' +
    "detectron2's convert-torchvision-to-d2.py produces. A model pretrained with the small-input\n" +
    'stem (model.smallInput, the cpu preset) has a 3x3 conv1 and needs the same stem in PyTorch.',
  options: [
    { name: 'checkpoint', type: 'string', valueName: 'DIR|FILE', description: 'pretrain run folder, checkpoints folder or ckpt-*.json' },
    { name: 'format', type: 'string', valueName: 'NAME', description: 'torchvision or detectron2', defaultText: 'torchvision' },
    { name: 'out', type: 'string', valueName: 'FILE', description: 'output .safetensors file' },
  ],
  examples: [
    'scrl export --checkpoint runs/pretrain-2026-01-01T00-00-00 --out r18-scrl.safetensors',
    'scrl export --checkpoint runs/r18 --format detectron2 --out r18-scrl-d2.safetensors',
  ],
  async run({ values, io }) {
    const target = stringOption(values, 'checkpoint');
    if (!target) throw new UsageError('--checkpoint DIR|FILE is required', 'export');
    const format = stringOption(values, 'format') ?? 'torchvision';
    if (format !== 'torchvision' && format !== 'detectron2') {
      throw new UsageError(`--format must be torchvision or detectron2, got '${format}'`, 'export');
    }
    const out = stringOption(values, 'out');
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
