import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main } from '../main';
import type { CommandIO } from '../command';

function capture(): CommandIO & { outLines: string[]; errLines: string[] } {
  const outLines: string[] = [];
  const errLines: string[] = [];
  return { outLines, errLines, out: (l) => outLines.push(l), err: (l) => errLines.push(l), isTTY: false };
}

describe('scrl data generate', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-gen-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('places between --min-objects and --max-objects objects in every image', async () => {
    const io = capture();
    const out = path.join(dir, 'dense');
    const code = await main(['data', 'generate', '--out', out, '--images', '4', '--size', '32', '--min-objects', '5', '--max-objects', '5', '--backend', 'cpu'], io);
    expect(code).toBe(0);
    const coco = JSON.parse(fs.readFileSync(path.join(out, 'annotations.json'), 'utf8'));
    const perImage = new Map<number, number>();
    for (const a of coco.annotations) perImage.set(a.image_id, (perImage.get(a.image_id) ?? 0) + 1);
    // Occluded objects keep at least half of their pixels, so every object is annotated.
    expect(JSON.parse(fs.readFileSync(path.join(out, 'scenes.json'), 'utf8'))).toMatchObject({ minObjects: 5, maxObjects: 5 });
    expect(coco.images).toHaveLength(4);
    expect([...perImage.values()]).toEqual([5, 5, 5, 5]);
  });

  it('exits 2 naming the flag when --max-objects is below --min-objects', async () => {
    const io = capture();
    const code = await main(['data', 'generate', '--out', path.join(dir, 'x'), '--min-objects', '8', '--max-objects', '4'], io);
    expect(code).toBe(2);
    expect(io.errLines.join('\n')).toMatch(/--max-objects must be between --min-objects \(8\) and 32, got 4/);
    expect(fs.existsSync(path.join(dir, 'x'))).toBe(false);
  });
});
