/** Jest project for @scrl/data; shared settings live in jest.preset.js at the root. */
module.exports = {
  ...require('../../jest.preset.js'),
  displayName: '@scrl/data',
  rootDir: __dirname,
};
