import { defineConfig } from 'vitest/config';

// Model tests load onnxruntime and the tfjs reference: minutes of CPU, not the 5 s default.
export default defineConfig({ test: { testTimeout: 120_000, hookTimeout: 180_000 } });
