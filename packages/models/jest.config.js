/** Jest project for @scrl/models; shared settings live in jest.preset.js at the root. */
module.exports = {
  ...require('../../jest.preset.js'),
  displayName: '@scrl/models',
  rootDir: __dirname,
};
