import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Dawn is a native addon: separate processes keep one device per test file.
    pool: 'forks',
    env: {
      // lavapipe (llvmpipe's LLVM) without its optimisation passes: a cold run of the suite is
      // mostly compiling kernels, each once, and the tests' models are tiny, so compiling fast
      // beats running fast (measured: the classifier file 30.5 s → 22.8 s cold). Mesa keys its
      // shader cache by this flag, so these kernels never reach a normal run. Other drivers
      // ignore it; set GALLIVM_PERF yourself to override.
      GALLIVM_PERF: process.env.GALLIVM_PERF ?? 'nopt',
    },
    // No test should come near this: a cold machine runs each in well under 15 s
    // (`npm run test:cold`). A test that hangs fails here, by name, before vitest's
    // one-minute worker heartbeat would end the whole run.
    testTimeout: 50_000,
    hookTimeout: 50_000,
  },
});
