/** Jest project for @scrl/util; shared settings live in jest.preset.js at the root. */
module.exports = {
  ...require('../../jest.preset.js'),
  displayName: '@scrl/util',
  rootDir: __dirname,
};
