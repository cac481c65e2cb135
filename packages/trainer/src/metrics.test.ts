import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { formatDuration, MetricsWriter, ProgressReporter, readMetrics, renderLossCurve, writeLossCurvePng } from './index';

const rec = (step: number) => ({ step, loss: 4 - step / 10, lr: 0.1, momentum: 0.99, boxPairs: 20, imagesPerSecond: 3.5 });

describe('metrics.jsonl', () => {
  it('appends one object per step and truncates after a step (resume), ignoring a torn line', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-metrics-'));
    const w = new MetricsWriter(path.join(dir, 'sub', 'metrics.jsonl'));
    for (let s = 1; s <= 5; s++) w.append(rec(s));
    fs.appendFileSync(w.file, '{"step": 6, "lo');
    expect(readMetrics(w.file).map((r) => r.step)).toEqual([1, 2, 3, 4, 5]);
    w.truncateAfter(3);
    expect(fs.readFileSync(w.file, 'utf8').trim().split('\n').map((l) => JSON.parse(l))).toEqual([rec(1), rec(2), rec(3)]);
    fs.rmSync(dir, { recursive: true });
  });
});

describe('ProgressReporter', () => {
  it('prints plain lines every N steps without a TTY, with an ETA from the average step time', () => {
    let t = 1000;
    const out: string[] = [];
    const p = new ProgressReporter({ total: 20, every: 5, stream: { write: (s: string) => out.push(s) }, now: () => t });
    for (let s = 1; s <= 20; s++) {
      t += 2000;
      p.update(s, { loss: 1.5, imagesPerSecond: 16 });
    }
    expect(out).toHaveLength(4);
    expect(out[0]).toBe('[scrl] step 5/20 25% loss 1.5000 16.0 img/s elapsed 10s ETA 30s\n');
    expect(out[3]).toBe('[scrl] step 20/20 100% loss 1.5000 16.0 img/s elapsed 40s ETA 0s\n');
  });

  it('redraws a bar in place on a TTY, counting from the resumed step', () => {
    let t = 0;
    const out: string[] = [];
    const p = new ProgressReporter({ total: 100, start: 50, stream: { write: (s: string) => out.push(s), isTTY: true }, now: () => t });
    t = 60000;
    p.update(60, { loss: 0.25, imagesPerSecond: 2 });
    p.finish();
    expect(out[0]).toBe('\r[##############----------] 60/100 60% loss 0.2500 2.0 img/s elapsed 1m00s ETA 4m00s');
    expect(out[1]).toBe('\n');
  });

  it('formats durations', () => {
    expect(formatDuration(3725)).toBe('1h02m');
    expect(formatDuration(61)).toBe('1m01s');
    expect(formatDuration(NaN)).toBe('?');
  });
});

describe('loss curve', () => {
  const points = Array.from({ length: 50 }, (_, i) => ({ step: i + 1, loss: 4 * Math.exp(-i / 10) + 0.1 }));

  it('draws axes, labels and the curve into an RGB buffer', () => {
    const c = renderLossCurve(points, { width: 320, height: 200 });
    expect(c.data.length).toBe(320 * 200 * 3);
    const at = (x: number, y: number) => Array.from(c.data.subarray((y * 320 + x) * 3, (y * 320 + x) * 3 + 3));
    // The y axis at x = 56 is black; the corner of the image is white.
    expect(at(56, 100)).toEqual([0, 0, 0]);
    expect(at(319, 0)).toEqual([255, 255, 255]);
    // The first point (largest loss) sits near the top-left of the plot area, in the line colour.
    const column = Array.from({ length: 200 }, (_, y) => at(56, y));
    expect(column.some((p) => p[0] === 31 && p[1] === 78 && p[2] === 160)).toBe(true);
    // Tick labels put dark pixels left of the axis.
    let dark = 0;
    for (let y = 0; y < 164; y++) for (let x = 0; x < 50; x++) if (at(x, y)[0] === 0) dark++;
    expect(dark).toBeGreaterThan(50);
  });

  it('writes a PNG that decodes to the drawn pixels', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-plot-'));
    const file = path.join(dir, 'loss.png');
    await writeLossCurvePng(file, points, { width: 320, height: 200 });
    const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([320, 200, 3]);
    expect(Buffer.compare(data, Buffer.from(renderLossCurve(points, { width: 320, height: 200 }).data))).toBe(0);
    fs.rmSync(dir, { recursive: true });
  });

  it('handles an empty or flat series and rejects a tiny canvas', () => {
    expect(renderLossCurve([]).width).toBe(640);
    expect(renderLossCurve([{ step: 1, loss: 2 }, { step: 2, loss: 2 }]).height).toBe(400);
    expect(() => renderLossCurve(points, { width: 10 })).toThrow('Error in renderLossCurve: width and height must be integers >= 120 x 80 but got 10 x 400');
  });
});
