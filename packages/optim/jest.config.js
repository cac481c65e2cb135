/** Jest project for @scrl/optim; shared settings live in jest.preset.js at the root. */
module.exports = {
  ...require('../../jest.preset.js'),
  displayName: '@scrl/optim',
  rootDir: __dirname,
};
