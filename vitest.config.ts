import { defineConfig } from 'vitest/config';
import { IntegrationSequencer } from './test/lab/sequencer.js';

// Two projects: `unit` (pure logic, fast, parallel) and `integration` (a real PBX
// lab on 127.0.0.1 started once by test/lab/global-setup.ts). Integration runs on two
// workers: lab files one at a time, timing measurements alone, the untimed files listed
// in test/lab/concurrency.ts two at a time (locks: test/lab/exclusive.ts). See
// test/lab/README.md.
export default defineConfig({
  test: {
    sequence: { sequencer: IntegrationSequencer },
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
          setupFiles: ['test/lab/exclusive.ts'],
          maxWorkers: 2,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
