/** Jest project for @scrl/loss; shared settings live in jest.preset.js at the root. */
module.exports = {
  ...require('../../jest.preset.js'),
  displayName: '@scrl/loss',
  rootDir: __dirname,
};
