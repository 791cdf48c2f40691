import { defineConfig } from 'vitest/config';

// Each test spawns the CLI, which loads onnxruntime and two models; the compiled command is
// rebuilt first when its sources have changed.
export default defineConfig({ test: { globalSetup: ['./scripts/build.ts'], testTimeout: 120_000 } });
