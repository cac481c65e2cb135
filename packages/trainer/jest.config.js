/** Jest project for @scrl/trainer; shared settings live in jest.preset.js at the root. */
module.exports = {
  ...require('../../jest.preset.js'),
  displayName: '@scrl/trainer',
  rootDir: __dirname,
};
