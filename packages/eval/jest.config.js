/** Jest project for @scrl/eval; shared settings live in jest.preset.js at the root. */
module.exports = {
  ...require('../../jest.preset.js'),
  displayName: '@scrl/eval',
  rootDir: __dirname,
};
