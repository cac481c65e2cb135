/**
 * Lint rules that keep the package graph one-way: util, then ops and geometry at the bottom, the
 * CLI on top. Tags are set in each packages/<name>/project.json.
 */
const nx = require('@nx/eslint-plugin');
const tsParser = require('@typescript-eslint/parser');
const globals = require('globals');

/** Tools import the packages by name (`require('@scrl/trainer')`), never a package's files. */
const noPackageFiles = [
  {
    selector: "CallExpression[callee.name='require'] > CallExpression[callee.property.name=/^(join|resolve)$/] > Literal[value=/^packages(\\/|$)/]",
    message: "Import packages by name (require('@scrl/<name>')), not from packages/<name>/dist.",
  },
  {
    selector: "CallExpression[callee.name='require'] > Literal[value=/(^|\\/)packages\\/[a-z-]+\\/(dist|src)/]",
    message: "Import packages by name (require('@scrl/<name>')), not from packages/<name>/dist.",
  },
];

module.exports = [
  { ignores: ['**/dist/**', '**/vendor/**', '**/node_modules/**', 'packages/**/*.js'] },
  {
    files: ['tools/**/*.js'],
    languageOptions: { sourceType: 'commonjs', ecmaVersion: 2022, globals: { ...globals.node } },
    rules: {
      'no-undef': 'error',
      'no-restricted-syntax': ['error', ...noPackageFiles],
    },
  },
  {
    files: ['packages/**/*.ts'],
    languageOptions: { parser: tsParser },
    plugins: { '@nx': nx },
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: true,
          allow: ['@scrl/testing'],
          depConstraints: [
            { sourceTag: 'type:util', onlyDependOnLibsWithTags: [] },
            { sourceTag: 'type:ops', onlyDependOnLibsWithTags: ['type:util'] },
            { sourceTag: 'type:geometry', onlyDependOnLibsWithTags: ['type:util', 'type:ops'] },
            { sourceTag: 'type:model', onlyDependOnLibsWithTags: ['type:util', 'type:ops'] },
            { sourceTag: 'type:optim', onlyDependOnLibsWithTags: ['type:util', 'type:ops', 'type:model'] },
            { sourceTag: 'type:data', onlyDependOnLibsWithTags: ['type:util', 'type:ops', 'type:geometry'] },
            {
              sourceTag: 'type:train',
              onlyDependOnLibsWithTags: ['type:util', 'type:ops', 'type:geometry', 'type:model', 'type:optim', 'type:data'],
            },
            {
              sourceTag: 'type:eval',
              onlyDependOnLibsWithTags: ['type:util', 'type:ops', 'type:geometry', 'type:model', 'type:optim', 'type:data'],
            },
            {
              sourceTag: 'type:app',
              onlyDependOnLibsWithTags: ['type:util', 'type:ops', 'type:geometry', 'type:model', 'type:optim', 'type:data', 'type:train', 'type:eval'],
            },
          ],
        },
      ],
      // tsc compiles packages to CommonJS and reads a module's own exported bindings as
      // `exports.name`: a local named `exports` (or `require`) shadows them and throws at
      // run time in dist/ and the browser bundle, while jest (swc) does not show it.
      'no-restricted-syntax': [
        'error',
        {
          selector: 'VariableDeclarator > Identifier.id[name=/^(exports|require)$/]',
          message: 'Do not name a local `exports` or `require`: compiled to CommonJS it shadows the module bindings.',
        },
        {
          selector: ':function > Identifier.params[name=/^(exports|require)$/]',
          message: 'Do not name a parameter `exports` or `require`: compiled to CommonJS it shadows the module bindings.',
        },
      ],
    },
  },
];
