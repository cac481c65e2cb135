/** Jest project for @scrl/web; shared settings live in jest.preset.js at the root. */
module.exports = {
  ...require('../../jest.preset.js'),
  displayName: '@scrl/web',
  rootDir: __dirname,
};
