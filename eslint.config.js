/**
 * Lint rules that keep the package graph one-way: util, then ops and geometry at the bottom, the
 * CLI on top. Tags are set in each packages/<name>/project.json.
 */
const nx = require('@nx/eslint-plugin');
const tsParser = require('@typescript-eslint/parser');

module.exports = [
  { ignores: ['**/dist/**', '**/vendor/**', '**/node_modules/**', '**/*.js'] },
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
            { sourceTag: 'type:data', onlyDependOnLibsWithTags: ['type:util', 'type:ops', 'type:geometry'] },
            {
              sourceTag: 'type:train',
              onlyDependOnLibsWithTags: ['type:util', 'type:ops', 'type:geometry', 'type:model', 'type:data'],
            },
            {
              sourceTag: 'type:eval',
              onlyDependOnLibsWithTags: ['type:util', 'type:ops', 'type:geometry', 'type:model', 'type:data'],
            },
            {
              sourceTag: 'type:app',
              onlyDependOnLibsWithTags: ['type:util', 'type:ops', 'type:geometry', 'type:model', 'type:data', 'type:train', 'type:eval'],
            },
          ],
        },
      ],
    },
  },
];
