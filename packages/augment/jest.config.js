/** Jest project for @scrl/augment; shared settings live in jest.preset.js at the root. */
module.exports = {
  ...require('../../jest.preset.js'),
  displayName: '@scrl/augment',
  rootDir: __dirname,
};
