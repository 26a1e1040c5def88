import { defineConfig } from 'vitest/config';

export default defineConfig({
  // One graphql instance: some packages load its ESM build, others its CommonJS build.
  resolve: { alias: { graphql: 'graphql/index.js' } },
  test: {
    include: ['test/**/*.test.ts', 'resolvers/**/*.test.ts', 'server/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
