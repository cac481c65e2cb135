import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRng, createViewPipeline, renderBoxPairs, sampleBoxPairs } from '@scrl/augment';
import { ImageFolder, decodeImage } from '@scrl/data';
import type { TrainConfig } from '@scrl/trainer';
import { intOption, stringOption, type Command, type CommandContext, type CommandIO } from '../command';
import { UsageError } from '../errors';
import { ALLOW_OUTSIDE_ROOT_OPTION, builtinScenes, CACHE_OPTION, containmentFromFlags, CONFIG_OPTIONS, configFromFlags, setupBackend, timestampedDir } from '../shared';
import { PRETRAIN_SCENES } from './pretrain';

/** C5 stride of the configured ResNet: the default smallest box side. */
function c5Stride(config: TrainConfig): number {
  return config.model.smallInput ? 8 : 32;
}

/**
 * Writes one matched-box picture per image (`box-pairs-<i>.png`): the image with both view
 * crops, and the two views with their paired boxes in matching colours. Returns the files.
 */
export async function writeBoxPairPictures(options: {
  files: string[];
  config: TrainConfig;
  out: string;
  seed: number;
  viewScale?: number;
}): Promise<Array<{ file: string; pairs: number }>> {
  const { config } = options;
  const pipeline = createViewPipeline({ viewSize: config.views.size, scale: config.views.scale, blur: config.views.blur });
  const root = createRng(options.seed);
  fs.mkdirSync(options.out, { recursive: true });
  const written: Array<{ file: string; pairs: number }> = [];
  for (let i = 0; i < options.files.length; i++) {
    const image = await decodeImage(options.files[i]);
    const views = await pipeline.viewPair(image, root.fork('views').fork(i));
    const pairs = sampleBoxPairs(
      views[0].geometry,
      views[1].geometry,
      {
        viewSize: config.views.size,
        minSize: config.boxes.minSize ?? c5Stride(config),
        boxesPerImage: config.boxes.perImage,
        iouThreshold: config.boxes.iouThreshold,
        maxTries: config.boxes.maxTries,
        jitter: config.boxes.jitter,
      },
      root.fork('boxes').fork(i),
    );
    const file = path.join(options.out, `box-pairs-${i}.png`);
    await renderBoxPairs({ image, views, pairs, file, viewScale: options.viewScale ?? Math.max(2, Math.round(128 / config.views.size)) });
    written.push({ file, pairs: pairs.length });
  }
  return written;
}

async function imageFiles(values: CommandContext['values'], io: CommandIO, count: number): Promise<string[]> {
  let dir = stringOption(values, 'data');
  if (!dir) dir = path.join((await builtinScenes(values, io, PRETRAIN_SCENES)).dir, 'images');
  const folder = await ImageFolder.open(dir, containmentFromFlags(values));
  return [...folder.files].sort().slice(0, count);
}

export const vizBoxes: Command = {
  name: 'viz boxes',
  summary: 'draw the matched box pairs SCRL samples between two views of a few images',
  description:
    'Uses the views and boxes settings of the config (--preset/--config/--set), as pretraining\n' +
    'does. Each picture shows the image with both view crops, then view 1 and view 2 with their\n' +
    'paired boxes in matching colours.',
  options: [
    { name: 'data', type: 'string', valueName: 'DIR', description: 'folder of images', defaultText: 'built-in scenes' },
    ALLOW_OUTSIDE_ROOT_OPTION,
    { name: 'images', type: 'string', valueName: 'N', description: 'number of images', defaultText: '4' },
    { name: 'seed', type: 'string', valueName: 'S', description: 'seed of views and boxes', defaultText: '0' },
    { name: 'out', type: 'string', valueName: 'DIR', description: 'output folder', defaultText: 'runs/viz-boxes-<timestamp>' },
    ...CONFIG_OPTIONS,
    CACHE_OPTION,
  ],
  examples: ['scrl viz boxes --images 4 --out runs/boxes', 'scrl viz boxes --data ~/images --set views.size=96 --set boxes.perImage=6'],
  async run({ values, io }) {
    const config = configFromFlags(values);
    const count = intOption(values, 'images', 1) ?? 4;
    const seedText = stringOption(values, 'seed') ?? '0';
    const seed = Number(seedText);
    if (!Number.isInteger(seed) || seed < 0) throw new UsageError(`--seed must be an integer >= 0, got '${seedText}'`, 'viz boxes');
    const out = stringOption(values, 'out') ?? timestampedDir('viz-boxes');
    // No tensor work here (views and pictures are typed-array code); this checks --backend like every command.
    await setupBackend(values, io);
    const files = await imageFiles(values, io, count);
    const written = await writeBoxPairPictures({ files, config, out, seed });
    for (const w of written) io.err(`[scrl] ${w.pairs} box pairs -> ${w.file}`);
    io.out(path.resolve(out));
  },
};
