import { defineConfig } from 'vitest/config';

// The end-to-end tests spawn the CLI (onnxruntime + models) and a headless Chromium: seconds each.
export default defineConfig({ test: { testTimeout: 120_000, hookTimeout: 180_000 } });
