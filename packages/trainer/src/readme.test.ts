import * as path from 'node:path';
import { readmeBlocks, runReadmeBlock } from '@scrl/testing';

jest.setTimeout(300_000);

const README = path.join(__dirname, '..', 'README.md');

describe('README examples run as written', () => {
  const blocks = readmeBlocks(README);
  it('has examples', () => expect(blocks.length).toBeGreaterThan(0));
  it.each(blocks.map((b) => [b.line, b] as const))('block at line %i', async (_line, block) => {
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await runReadmeBlock(block, require, README);
      // It ran to its end: the last console.log of the block was reached.
      if (block.code.includes('console.log')) expect(log).toHaveBeenCalled();
    } finally {
      log.mockRestore();
    }
  });
});
