/** Root jest config: one project per package (packages/<name>/jest.config.js). */
module.exports = {
  projects: ['<rootDir>/packages/*/jest.config.js'],
  globalSetup: '<rootDir>/tools/testing/global-setup.js',
  // A global option: ignored inside project configs. Tensor tests on 2 cores can be slow.
  testTimeout: 120000,
};
