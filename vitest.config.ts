import { defineConfig } from 'vitest/config';

// Two projects: `unit` (pure logic, fast, parallel) and `integration`
// (a real PBX lab on 127.0.0.1 started once by test/lab/global-setup.ts,
// files run one at a time because they share the lab's fixed ports).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/lab/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
