/** Jest project for @scrl/roi-align; shared settings live in jest.preset.js at the root. */
module.exports = {
  ...require('../../jest.preset.js'),
  displayName: '@scrl/roi-align',
  rootDir: __dirname,
};
