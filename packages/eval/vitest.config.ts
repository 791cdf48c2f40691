import { defineConfig } from 'vitest/config';

// Some tests run the real ONNX model over real images and render reports in a headless Chromium:
// seconds each.
export default defineConfig({ test: { testTimeout: 120_000, hookTimeout: 180_000 } });
