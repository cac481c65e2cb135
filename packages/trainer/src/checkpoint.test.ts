import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeSafetensors, encodeSafetensors, findLatestCheckpoint, listCheckpoints, readCheckpoint, writeCheckpoint } from './index';

const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-ckpt-'));
const tensors = (step: number) => ({
  'online.fc.weight': { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, step]) },
  'lars.fc.weight': { shape: [2, 3], data: new Float32Array(6).fill(step / 10) },
});

describe('safetensors', () => {
  it('round-trips float32 tensors with metadata, aligned header', () => {
    const buf = encodeSafetensors(tensors(7), { a: 'b' });
    const headerLen = Number(buf.readBigUInt64LE(0));
    expect((8 + headerLen) % 8).toBe(0);
    const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString());
    expect(header['lars.fc.weight']).toEqual({ dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
    const out = decodeSafetensors(buf);
    expect(out.metadata).toEqual({ a: 'b' });
    expect(Array.from(out.tensors['online.fc.weight'].data)).toEqual([1, 2, 3, 4, 5, 7]);
  });

  it('rejects a truncated file naming the problem', () => {
    const buf = encodeSafetensors(tensors(1));
    expect(() => decodeSafetensors(buf.subarray(0, buf.length - 4), 'x.safetensors')).toThrow(
      "Error in decodeSafetensors: x.safetensors is not a valid safetensors file: tensor 'online.fc.weight' (F32, shape [2, 3]) has data_offsets",
    );
  });
});

describe('safetensors offsets', () => {
  it('rejects overlapping data_offsets naming both tensors', () => {
    const header = Buffer.from(JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    expect(() => decodeSafetensors(Buffer.concat([len, header, Buffer.alloc(12)]), 'x.safetensors')).toThrow(
      "Error in decodeSafetensors: x.safetensors is not a valid safetensors file: tensors 'a' [0, 8] and 'b' [4, 12] have overlapping data_offsets; the file is corrupt.",
    );
  });
});

describe('checkpoints', () => {
  it('writes, lists, reads and keeps the newest N', () => {
    const dir = tmpDir();
    for (let s = 1; s <= 5; s++) writeCheckpoint(dir, { step: s * 10, tensors: tensors(s), state: { rng: [s] } }, { keep: 2 });
    expect(listCheckpoints(dir).map((c) => c.step)).toEqual([50, 40]);
    expect(fs.readdirSync(dir).sort()).toEqual([
      'ckpt-00000040.json',
      'ckpt-00000040.safetensors',
      'ckpt-00000050.json',
      'ckpt-00000050.safetensors',
    ]);
    const c = readCheckpoint(path.join(dir, 'ckpt-00000040.json'));
    expect(c.step).toBe(40);
    expect(c.state).toEqual({ rng: [4] });
    expect(Array.from(c.tensors['lars.fc.weight'].data)).toEqual(Array.from(new Float32Array(6).fill(0.4)));
    fs.rmSync(dir, { recursive: true });
  });

  it('skips truncated, corrupt and half-written checkpoints with a warning', () => {
    const dir = tmpDir();
    for (const s of [1, 2, 3, 4]) writeCheckpoint(dir, { step: s, tensors: tensors(s) }, { keep: 0 });
    // 4: truncated tensor file; 3: one flipped byte; 2: truncated sidecar.
    const t4 = path.join(dir, 'ckpt-00000004.safetensors');
    fs.truncateSync(t4, fs.statSync(t4).size - 10);
    const t3 = path.join(dir, 'ckpt-00000003.safetensors');
    const b3 = fs.readFileSync(t3);
    b3[b3.length - 1] ^= 0xff;
    fs.writeFileSync(t3, b3);
    const s2 = path.join(dir, 'ckpt-00000002.json');
    fs.writeFileSync(s2, fs.readFileSync(s2, 'utf8').slice(0, 40));
    const warnings: string[] = [];
    const latest = findLatestCheckpoint(dir, { warn: (m) => warnings.push(m) });
    expect(latest?.step).toBe(1);
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatch(/step 4: .*has \d+ bytes, expected \d+ \(truncated\?\)/);
    expect(warnings[1]).toMatch(/step 3: .*fails its sha256 check \(corrupt\)/);
    expect(warnings[2]).toMatch(/step 2: .*sidecar unreadable/);
    expect(findLatestCheckpoint(path.join(dir, 'missing'))).toBeNull();
    fs.rmSync(dir, { recursive: true });
  });

  it('leaves a loadable latest checkpoint when the writer is SIGKILLed mid-loop', async () => {
    const writer = path.join(__dirname, '__tests__', 'checkpoint-writer.js');
    const dist = path.join(__dirname, '..', 'dist', 'checkpoint.js');
    if (!fs.existsSync(dist)) throw new Error(`${dist} is missing: build first (npx tsc -b packages/trainer).`);
    // Kill after different numbers of completed writes so the kill lands at different points.
    for (const after of [1, 4, 9]) {
      const dir = tmpDir();
      const child = spawn(process.execPath, [writer, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
      let completed = 0;
      await new Promise<void>((resolve) => {
        child.stdout.on('data', (chunk: Buffer) => {
          const lines = chunk.toString().trim().split('\n');
          completed = Number(lines[lines.length - 1]);
          if (completed >= after && !child.killed) {
            // Let the next write get under way, then kill.
            setTimeout(() => child.kill('SIGKILL'), after % 3);
          }
        });
        child.on('exit', () => resolve());
      });
      const latest = findLatestCheckpoint(dir, { warn: () => undefined });
      expect(latest).not.toBeNull();
      expect(latest!.step).toBeGreaterThanOrEqual(completed);
      const w = latest!.tensors['online.w'].data;
      expect(w[0]).toBe(latest!.step);
      expect(w[w.length - 1]).toBe(Math.fround(latest!.step + ((w.length - 1) % 1000) / 1000));
      expect(latest!.state).toEqual({ step: latest!.step });
      fs.rmSync(dir, { recursive: true });
    }
  });
});
