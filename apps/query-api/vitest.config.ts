import { defineConfig } from 'vitest/config';

// Each test file opens a copy of a real index (built once in global-setup with onnxruntime and
// the sample photos); some start a server or a headless Chromium: seconds, not the 5 s default.
export default defineConfig({
  test: {
    globalSetup: ['./src/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
  },
});
