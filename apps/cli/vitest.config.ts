import { defineConfig } from 'vitest/config';

// Each test spawns the CLI, which loads onnxruntime and two models.
export default defineConfig({ test: { testTimeout: 120_000 } });
