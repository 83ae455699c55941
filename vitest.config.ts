import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const core = (p: string) => fileURLToPath(new URL(`./core/src/${p}`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the TypeScript sources of core; the services' processes run the build.
    alias: [
      { find: /^@mailyard\/core\/contracts$/, replacement: core('contracts/index.ts') },
      { find: /^@mailyard\/core\/local$/, replacement: core('local/index.ts') },
      { find: /^@mailyard\/core$/, replacement: core('index.ts') },
    ],
  },
  test: {
    // frontend component tests pick their DOM per file (`// @vitest-environment happy-dom`)
    include: ['*/src/**/*.test.ts', 'tests/**/*.test.ts', 'frontend/src/**/*.test.tsx'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    globalSetup: ['tests/setup/global-setup.ts'],
    // The ports tests give their servers come from outside the kernel's ephemeral range, where no
    // outgoing connection can take one between the pick and the bind (freePort in
    // core/src/local/process-utils.ts); the processes the tests start inherit it.
    env: { MAILYARD_PORT_RANGE: '20000-32000' },
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    reporters: ['default'],
  },
});
