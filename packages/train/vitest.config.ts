import { defineConfig } from 'vitest/config';

// The end-to-end test extracts features with onnxruntime and trains a small head: tens of seconds.
export default defineConfig({ test: { testTimeout: 300_000, hookTimeout: 300_000 } });
