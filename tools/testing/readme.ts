/**
 * Runs the code blocks of a package README, so examples define every name they use and keep
 * working (issue 17). Every ```ts / ```js block runs, in order, except one whose info string
 * says `fragment` (```ts fragment), which is an excerpt and is only shown.
 */
import * as fs from 'node:fs';
import * as ts from 'typescript';

export interface ReadmeBlock {
  /** 1-based line of the opening fence. */
  line: number;
  code: string;
}

/** The runnable TS/JS blocks of `file`. */
export function readmeBlocks(file: string): ReadmeBlock[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const blocks: ReadmeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^```(ts|js|typescript|javascript)(\s.*)?$/.exec(lines[i]);
    if (!m) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i].startsWith('```'); i++) body.push(lines[i]);
    if (!/\bfragment\b/.test(m[2] ?? '')) blocks.push({ line: start + 1, code: body.join('\n') });
  }
  return blocks;
}

/**
 * Transpiles `block` (TypeScript or JavaScript, top-level await allowed) to CommonJS and runs it
 * with `load` as its `require` (pass the test file's `require`, so `@scrl/*` resolves as in the
 * tests), in an async function; resolves when it is done. `main()` calls at the end of a block
 * are awaited too when `main` returns a promise.
 */
export async function runReadmeBlock(block: ReadmeBlock, load: NodeJS.Require, file = 'README.md'): Promise<void> {
  const { outputText } = ts.transpileModule(block.code, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    fileName: `${file}:${block.line}.ts`,
  });
  // A block that ends with `main();` runs main in the background: await it instead.
  const js = outputText.replace(/^main\(\);\s*$/m, 'await main();');
  const fn = new Function('require', 'exports', 'module', `return (async () => {\n${js}\n})();`) as (
    r: NodeJS.Require,
    e: object,
    m: { exports: object },
  ) => Promise<void>;
  const module = { exports: {} };
  await fn(load, module.exports, module);
}

/**
 * A jest `describe` that runs every block of `readme` (see {@link readmeBlocks}); `load` is the
 * calling test file's `require`. A block that logs must reach its last `console.log` (output
 * is silenced).
 */
export function describeReadmeExamples(readme: string, load: NodeJS.Require): void {
  describe(`README examples run as written (${readme.split('/').slice(-2).join('/')})`, () => {
    const blocks = readmeBlocks(readme);
    it('has examples', () => expect(blocks.length).toBeGreaterThan(0));
    it.each(blocks.map((b) => [b.line, b] as const))('block at line %i', async (_line, block) => {
      const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
      try {
        await runReadmeBlock(block, load, readme);
        if (block.code.includes('console.log')) expect(log).toHaveBeenCalled();
      } finally {
        log.mockRestore();
      }
    });
  });
}
