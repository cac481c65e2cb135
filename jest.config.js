/** Root jest config: one project per package (packages/<name>/jest.config.js). */
module.exports = {
  projects: ['<rootDir>/packages/*/jest.config.js'],
  globalSetup: '<rootDir>/tools/testing/global-setup.js',
};
