/**
 * The bad-input matrix: every case gets a clear answer. Errors name the input (file, key or
 * flag) and say what to do, user errors exit 2, and no stack trace is printed (SCRL_DEBUG is
 * not set). Cases that are not errors (an unreadable image among good ones, alpha, 16 bits,
 * zero-area boxes, one batch without overlapping crops) warn with a line naming the input.
 * Image-level cases (1x1, pixel limit, alpha, 16-bit) are also in @scrl/data's decode tests.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import sharp from 'sharp';
import { readCheckpoint } from '@scrl/trainer';
import { main } from './main';
import type { CommandIO } from './command';

jest.setTimeout(300_000);

function capture(): CommandIO & { outLines: string[]; errLines: string[] } {
  const outLines: string[] = [];
  const errLines: string[] = [];
  return { outLines, errLines, out: (l) => outLines.push(l), err: (l) => errLines.push(l), isTTY: false };
}

const TINY = [
  'model.baseWidth=4', 'views.size=16', 'batch.size=4', 'model.projector.hiddenDim=32', 'model.projector.outDim=16',
  'model.predictor.hiddenDim=32', 'schedule.steps=10', 'schedule.warmupSteps=1',
].flatMap((kv) => ['--set', kv]);
const FAST = ['--workers', '0', '--backend', 'wasm'];
const DETECT = ['--steps', '2', '--batch-size', '2', '--image-size', '32', '--set', 'model.baseWidth=4', '--backend', 'wasm'];

let tmp: string;
let scenes: string;
const at = (...p: string[]) => path.join(tmp, ...p);

async function scrl(args: string[]) {
  const io = capture();
  const code = await main(args, io);
  const error = io.errLines.find((l) => l.startsWith('scrl: error:')) ?? '';
  return { code, io, error, all: io.errLines.join('\n') };
}

/** The checks every error case shares: exit code, the input named, a remedy, no stack trace. */
function expectClearError(r: Awaited<ReturnType<typeof scrl>>, code: number, names: RegExp, remedy: RegExp): void {
  expect({ code: r.code, error: r.error }).toEqual({ code, error: expect.stringMatching(names) });
  expect(r.error).toMatch(remedy);
  expect(r.all).not.toMatch(/\n\s+at |SCRL_DEBUG/);
}

/** A copy of the scenes COCO folder with `edit` applied to annotations.json. */
function cocoCopy(name: string, edit: (coco: { images: any[]; annotations: any[]; categories: any[] }) => void): string {
  const dir = at(name);
  fs.cpSync(scenes, dir, { recursive: true });
  const file = path.join(dir, 'annotations.json');
  const coco = JSON.parse(fs.readFileSync(file, 'utf8'));
  edit(coco);
  fs.writeFileSync(file, JSON.stringify(coco));
  return dir;
}

/** A valid PNG that claims `width` x `height` but holds no pixel data: a decompression bomb's header. */
function pngHeader(width: number, height: number): Buffer {
  const crc = (bytes: Buffer) => {
    let c = 0xffffffff;
    for (const b of bytes) {
      c ^= b;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body), body.length + 4);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.alloc(0))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function safetensors(header: Record<string, unknown>, dataBytes: number, claimedHeaderLength?: number): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(claimedHeaderLength ?? json.length));
  return Buffer.concat([len, json, Buffer.alloc(dataBytes)]);
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-bad-'));
  scenes = at('scenes');
  expect((await scrl(['data', 'generate', '--out', scenes, '--images', '8', '--size', '32'])).code).toBe(0);
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('image folders', () => {
  it('empty folder', async () => {
    fs.mkdirSync(at('empty'));
    const r = await scrl(['pretrain', '--data', at('empty'), '--out', at('o-empty'), ...TINY, ...FAST]);
    expectClearError(r, 2, /ImageFolder\.open: .*empty: contains no image files/, /Point at the folder that holds the images/);
  });

  it('folder of only corrupt images', async () => {
    fs.mkdirSync(at('corrupt'));
    for (let i = 0; i < 5; i++) fs.writeFileSync(at('corrupt', `${i}.png`), 'not an image');
    const r = await scrl(['pretrain', '--data', at('corrupt'), '--out', at('o-corrupt'), ...TINY, ...FAST]);
    expectClearError(r, 2, /train: .*corrupt: none of the 5 image files could be decoded \(first: \d\.png: /, /Point --data at a folder of readable/);
  });

  it('truncated JPEG, 1x1 image and a decompression bomb among good images: skipped with a warning each, the run goes on', async () => {
    const dir = at('mixed');
    fs.mkdirSync(dir);
    for (const f of fs.readdirSync(path.join(scenes, 'images')).slice(0, 4)) fs.copyFileSync(path.join(scenes, 'images', f), path.join(dir, f));
    const jpeg = await sharp(path.join(scenes, 'images', fs.readdirSync(path.join(scenes, 'images'))[0])).jpeg().toBuffer();
    fs.writeFileSync(path.join(dir, 'cut.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
    await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } }).png().toFile(path.join(dir, 'dot.png'));
    fs.writeFileSync(path.join(dir, 'bomb.png'), pngHeader(20000, 20000));
    const r = await scrl(['pretrain', '--data', dir, '--out', at('o-mixed'), ...TINY, '--max-steps', '8', ...FAST]);
    expect(r.error).toBe('');
    expect(r.code).toBe(0);
    const skipped = r.io.errLines.filter((l) => l.startsWith('[scrl] skipped unreadable image'));
    expect(skipped.filter((l) => l.includes('\n'))).toEqual([]);
    expect(skipped).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/cut\.jpg: /),
        expect.stringMatching(/dot\.png: image is 1x1 px; images need at least 2 px per side/),
        expect.stringMatching(/bomb\.png: image is 20000x20000 \(400\.0 megapixels\), over the 89\.5-megapixel limit; resize it/),
      ]),
    );
  });
});

describe('COCO annotations', () => {
  it.each([
    ['missing id', (c: any) => delete c.images[0].id, /annotations\.json: does not match COCO's detection format: images\[0\]\.id: /, /Fix those fields/],
    ['duplicate image id', (c: any) => (c.images[1].id = c.images[0].id), /annotations\.json: has two images with id 1\./, /Give every image its own id/],
    ['duplicate annotation id', (c: any) => (c.annotations[1].id = c.annotations[0].id), /has two annotations with id \d+\./, /Give every annotation its own id/],
    ['box outside the image', (c: any) => (c.annotations[0].bbox = [20, 20, 30, 30]), /annotations\[0\] \(id \d+, image '.*'\) has bbox \[20, 20, 30, 30\] .* outside its 32x32 image/, /Fix the box/],
    ['unknown category', (c: any) => (c.annotations[0].category_id = 99), /annotations\[0\] \(id \d+\) refers to category_id 99, which is not in categories/, /Add the category to categories/],
    ['file_name outside the folder', (c: any) => (c.images[0].file_name = '../../etc/passwd'), /images\[0\]\.file_name '\.\.\/\.\.\/etc\/passwd' resolves to .* outside the dataset folder/, /--allow-outside-root/],
  ])('%s', async (name, edit, names, remedy) => {
    const dir = cocoCopy(`coco-${name.replace(/ /g, '-')}`, edit);
    const r = await scrl(['eval', 'detection', '--data', dir, '--out', at(`o-${name}`), ...DETECT]);
    expectClearError(r, 2, names, remedy);
  });

  it('truncated JPEG and a 20000x20000 image in a detection set: refused naming the file (not skipped: it would change the evaluation set)', async () => {
    const cut = cocoCopy('coco-cut', (c) => (c.images[0].file_name = 'cut.jpg'));
    const jpeg = await sharp(path.join(scenes, 'images', fs.readdirSync(path.join(scenes, 'images'))[0])).jpeg().toBuffer();
    fs.writeFileSync(path.join(cut, 'cut.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
    const r1 = await scrl(['eval', 'detection', '--data', cut, '--out', at('o-cut'), ...DETECT]);
    expectClearError(r1, 2, /loadDetectionSamples: .*cut\.jpg: image id 1 cannot be read/, /Replace the file/);

    const bomb = cocoCopy('coco-bomb', (c) => Object.assign(c.images[0], { file_name: 'bomb.png', width: 20000, height: 20000 }));
    fs.writeFileSync(path.join(bomb, 'bomb.png'), pngHeader(20000, 20000));
    const r2 = await scrl(['eval', 'detection', '--data', bomb, '--out', at('o-bomb'), ...DETECT]);
    expectClearError(r2, 2, /bomb\.png: image id 1 cannot be read \(image is 20000x20000 \(400\.0 megapixels\), over the 89\.5-megapixel limit/, /resize it/);
  });

  it('zero-area boxes: kept, with one warning naming the file and the first annotation; fine-tuning runs', async () => {
    const dir = cocoCopy('coco-zero', (c) => {
      c.annotations[0].bbox[2] = 0;
      c.annotations[1].bbox[3] = 0;
    });
    const r = await scrl(['eval', 'detection', '--data', dir, '--out', at('o-zero'), ...DETECT]);
    expect(r.error).toBe('');
    expect(r.code).toBe(0);
    expect(r.io.errLines).toContainEqual(expect.stringMatching(/annotations\.json: 2 annotations have a zero-area box \(first: annotations\[0\] \(id \d+\)\); kept .* Remove or fix them/));
    const metrics = fs.readFileSync(at('o-zero', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics.every((m) => Number.isFinite(m.loss))).toBe(true);
  });
});

describe('weights and checkpoints', () => {
  it.each([
    ['header length past the end of the file', safetensors({ 'conv1.weight': { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 4, 1e6), /--init: .*bad-0\.safetensors: header length 1000000 exceeds the \d+ bytes after it/],
    [
      'overlapping offsets',
      safetensors({ 'conv1.weight': { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, 'bn1.weight': { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12),
      /--init: .*bad-1\.safetensors: tensors 'conv1\.weight' \[0, 8\] and 'bn1\.weight' \[4, 12\] have overlapping data_offsets/,
    ],
  ])('safetensors with a %s', async (_what, bytes, names) => {
    const i = _what.startsWith('header') ? 0 : 1;
    const file = at(`bad-${i}.safetensors`);
    fs.writeFileSync(file, bytes);
    const r = await scrl(['eval', 'detection', '--init', file, '--data', scenes, '--out', at(`o-st${i}`), ...DETECT]);
    expectClearError(r, 2, names, /Pass an intact \.safetensors file/);
  });

  it('resuming pretraining with another architecture', async () => {
    const out = at('o-arch');
    expect((await scrl(['pretrain', '--data', path.join(scenes, 'images'), '--out', out, ...TINY, '--max-steps', '1', ...FAST])).code).toBe(0);
    const r = await scrl(['pretrain', '--data', path.join(scenes, 'images'), '--out', out, ...TINY, '--set', 'model.baseWidth=8', '--resume', ...FAST]);
    expectClearError(r, 2, /--resume: the config differs from the checkpoint's in model\.baseWidth/, /Resume with the same config, or start a new run in another --out/);
  });

  it('resuming a detection fine-tuning with another architecture', async () => {
    const out = at('o-det-arch');
    expect((await scrl(['eval', 'detection', '--data', scenes, '--out', out, ...DETECT, '--checkpoint-every', '1'])).code).toBe(0);
    const r = await scrl(['eval', 'detection', '--data', scenes, '--out', out, ...DETECT, '--set', 'model.baseWidth=8', '--resume']);
    expectClearError(r, 2, /--resume: the checkpoint in .*o-det-arch\/checkpoints has shape \[.*\] for 'backbone\.\S+', the detector needs \[.*\]/, /another architecture/);
  });

  it('NaN loss: stops (exit 1), names the last good checkpoint, which stays intact and resumable', async () => {
    const out = at('o-nan');
    const args = ['pretrain', '--data', path.join(scenes, 'images'), '--out', out, ...TINY, '--set', 'optimizer.baseLr=1e30', '--set', 'schedule.warmupSteps=0', '--checkpoint-every', '1', ...FAST];
    const r = await scrl(args);
    expectClearError(r, 1, /the loss became (NaN|-?Infinity) at step (\d+) .* The last good checkpoint is .*ckpt-\d+\.json \(step \d+\)/, /Lower optimizer\.baseLr/);
    const [, badStep, goodFile] = /at step (\d+) .*last good checkpoint is (\S+ckpt-\d+\.json)/.exec(r.error)!;
    const good = readCheckpoint(goodFile);
    expect(good.step).toBe(Number(badStep) - 1);
    expect(fs.readdirSync(path.join(out, 'checkpoints')).filter((f) => f.endsWith('.json'))).toEqual([path.basename(goodFile)]);
    // The same command with --resume starts again from that checkpoint.
    const again = await scrl([...args, '--resume']);
    expect(again.all).toMatch(new RegExp(`resumed from .*${path.basename(goodFile)}`));
  });
});

describe('configuration', () => {
  it('no overlapping crops in a batch: the step is skipped with a line saying why; 20 in a row stop the run', async () => {
    const r = await scrl(['pretrain', '--data', path.join(scenes, 'images'), '--out', at('o-overlap'), ...TINY, '--set', 'schedule.steps=40', '--set', 'views.scale=[0.01,0.01]', ...FAST]);
    expect(r.io.errLines).toContainEqual(expect.stringMatching(/^\[scrl\] step \d+: no usable micro-batch \(no box pairs, or < 2 images\); no update\. If this repeats, widen views\.scale/));
    expectClearError(r, 2, /no usable micro-batch in 20 steps in a row .* views\.scale \(now \[0\.01, 0\.01\]\)/, /Widen views\.scale .* or lower boxes\.minSize/);
  });

  it.each([
    [['--set', 'nope.x=1'], /unknown key 'nope\.x'/, /Keys at the top level: method, seed/],
    [['--set', 'batch.size=-4'], /cannot set 'batch\.size' to "-4"/, /expected number to be >=2/],
  ])('%j', async (flags, names, remedy) => {
    expectClearError(await scrl(['pretrain', ...flags]), 2, names, remedy);
  });

  it('unknown key in a config file', async () => {
    fs.writeFileSync(at('typo.yaml'), 'preset: cpu\nbatch:\n  sise: 4\n');
    expectClearError(await scrl(['pretrain', '--config', at('typo.yaml')]), 2, /typo\.yaml: unknown key 'batch\.sise'/, /keys under 'batch': size, accumulate/);
  });
});
