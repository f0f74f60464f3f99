import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['libs/*/test/**/*.test.ts', 'services/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Each end-to-end file runs a whole gateway (nats-server, edge, router, registry, agents) and
    // asserts on timings like "closed within 2 s": on 2 cores they run one file at a time.
    fileParallelism: false,
  },
});
