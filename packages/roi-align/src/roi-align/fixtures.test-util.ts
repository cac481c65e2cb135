/** Reads __fixtures__/roi_align.json (tools/fixtures/roi_align.py) for the parity tests. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RoiAlignFixture } from './fixture-format.test-util';

export { decodeFloat32, uniform } from './fixture-format.test-util';
export type { RoiAlignFixture, RoiAlignFixtureCase } from './fixture-format.test-util';

export function loadRoiAlignFixture(): RoiAlignFixture {
  const file = path.join(__dirname, '..', '__fixtures__', 'roi_align.json');
  return JSON.parse(fs.readFileSync(file, 'utf8')) as RoiAlignFixture;
}
