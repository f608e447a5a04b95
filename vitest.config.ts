import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // The 100k-row import measurement runs only when asked for (KEYWARD_IMPORT_SCALE=100000):
    // it is a measurement, not a test, and is left out of `npm test` rather than skipped in it.
    exclude: [...configDefaults.exclude, ...(process.env.KEYWARD_IMPORT_SCALE ? [] : ['test/import-scale.test.ts'])],
    globalSetup: ['test/helpers/global-setup.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
