import { defineConfig } from 'vitest/config';

// The tests spawn `fever` processes (each loads onnxruntime and two models) and index hundreds
// of photos: minutes, not the 5 s default. Files run one after another: their timings (kills,
// restarts) assume they do not compete for the two cores with each other. The compiled `fever`
// command is rebuilt first when its sources have changed.
export default defineConfig({
  test: {
    globalSetup: ['../apps/cli/scripts/build.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    fileParallelism: false,
  },
});
