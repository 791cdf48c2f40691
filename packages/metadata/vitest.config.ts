import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Opening PGlite (a wasm Postgres) and creating databases takes seconds, not milliseconds.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
