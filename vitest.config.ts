import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'relay-server/test/**/*.test.ts', 'relay-client/test/**/*.test.ts', 'test/**/*.test.ts'],
    // Tests start real servers and child processes; a loaded 2-core machine needs headroom.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
