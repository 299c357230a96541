import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // isolated-vm needs the V8 snapshot off in every process that loads it.
    execArgv: ['--no-node-snapshot'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // Integration tests share one broker; two workers keep the 2-core machine responsive.
    maxWorkers: 2,
  },
});
