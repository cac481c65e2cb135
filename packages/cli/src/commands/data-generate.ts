import { generateScenes } from '@scrl/data';
import { intOption, stringOption, type Command } from '../command';
import { UsageError } from '../errors';

export const dataGenerate: Command = {
  name: 'data generate',
  summary: 'write the built-in multi-object scenes as a COCO detection dataset',
  description:
    'Writes DIR/annotations.json (COCO), DIR/labels.json (per-image dominant class), DIR/images/*.png and\n' +
    'DIR/scenes.json (a stamp). The same seed and options give byte-identical files.',
  options: [
    { name: 'out', type: 'string', valueName: 'DIR', description: 'output folder (new or empty)' },
    { name: 'images', type: 'string', valueName: 'N', description: 'number of images', defaultText: '1000' },
    { name: 'seed', type: 'string', valueName: 'S', description: 'integer seed', defaultText: '0' },
    { name: 'size', type: 'string', valueName: 'PX', description: 'image side in pixels', defaultText: '128' },
    { name: 'min-objects', type: 'string', valueName: 'N', description: 'fewest objects per image', defaultText: '2' },
    { name: 'max-objects', type: 'string', valueName: 'N', description: 'most objects per image (at most 32)', defaultText: '6' },
    { name: 'overwrite', type: 'boolean', description: 'replace a scenes set already in DIR' },
  ],
  examples: ['scrl data generate --out data/scenes --images 2000 --seed 1', 'scrl data generate --out data/dense --size 64 --min-objects 4 --max-objects 10'],
  async run({ values, io }) {
    const out = stringOption(values, 'out');
    if (!out) throw new UsageError('--out DIR is required', 'data generate');
    const seedText = stringOption(values, 'seed') ?? '0';
    const seed = Number(seedText);
    if (!Number.isInteger(seed)) throw new UsageError(`--seed must be an integer, got '${seedText}'`, 'data generate');
    const minObjects = intOption(values, 'min-objects', 1) ?? 2;
    const maxObjects = intOption(values, 'max-objects', 1) ?? Math.max(6, minObjects);
    if (maxObjects < minObjects || maxObjects > 32) {
      throw new UsageError(`--max-objects must be between --min-objects (${minObjects}) and 32, got ${maxObjects}`, 'data generate');
    }
    const started = Date.now();
    const info = await generateScenes({
      out,
      images: intOption(values, 'images', 1) ?? 1000,
      seed,
      size: intOption(values, 'size', 32) ?? 128,
      minObjects,
      maxObjects,
      overwrite: values.overwrite === true,
    });
    io.err(`[scrl] wrote ${info.images} images, ${info.annotations} boxes in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    io.out(info.annotationFile);
  },
};
