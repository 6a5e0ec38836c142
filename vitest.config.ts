import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Dawn is a native addon: separate processes keep one device per test file.
    pool: 'forks',
    // No test should come near this: a cold machine runs each in well under 15 s
    // (`npm run test:cold`). A test that hangs fails here, by name, before vitest's
    // one-minute worker heartbeat would end the whole run.
    testTimeout: 50_000,
    hookTimeout: 50_000,
  },
});
