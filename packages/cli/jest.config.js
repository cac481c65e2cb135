/** Jest project for @scrl/cli; shared settings live in jest.preset.js at the root. */
module.exports = {
  ...require('../../jest.preset.js'),
  displayName: '@scrl/cli',
  rootDir: __dirname,
};
