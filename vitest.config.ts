import { defineConfig } from 'vitest/config';

// Two runs (see package.json "test"): everything in parallel, then test/isolated/ alone,
// for tests that measure the machine (event-loop delay) and must not share the CPU.
const isolated = process.env.JR_ISOLATED === '1';

export default defineConfig({
  test: {
    include: isolated ? ['test/isolated/**/*.test.ts'] : ['test/**/*.test.ts'],
    exclude: isolated ? [] : ['test/isolated/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests spawn processes and open sockets; two cores do not like 8 forks.
    maxWorkers: isolated ? 1 : 2,
    reporters: ['default'],
  },
});
