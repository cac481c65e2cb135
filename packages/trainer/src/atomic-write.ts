/** Atomic file writes (temporary name, fsync, rename), for checkpoints and metrics. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crashPoint, type CrashPoint } from './crash-points';

function writeAll(fd: number, bytes: Buffer, from: number, to: number): void {
  for (let at = from; at < to; ) at += fs.writeSync(fd, bytes, at, to - at);
}

/**
 * Writes `file` atomically: a temporary name in the same folder, fsync, rename. A reader sees
 * the old file or the whole new one, never a part. (`midway` is the kill tests' hook, reached
 * with half the bytes written.)
 */
export function writeFileDurably(file: string, data: Buffer | string, midway?: CrashPoint): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}`);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const fd = fs.openSync(tmp, 'w');
  try {
    const half = Math.floor(bytes.length / 2);
    writeAll(fd, bytes, 0, half);
    if (midway) crashPoint(midway);
    writeAll(fd, bytes, half, bytes.length);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

export function fsyncDir(dir: string): void {
  // Makes the renames durable; directories cannot be opened this way on every platform.
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    /* best effort */
  }
}
