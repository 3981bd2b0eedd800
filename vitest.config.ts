import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests spawn processes and open sockets; two cores do not like 8 forks.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
