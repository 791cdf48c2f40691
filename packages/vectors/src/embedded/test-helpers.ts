import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { testId } from '../testing/random.ts';
import type { Point } from '../types.ts';

/** Shared by the embedded store's own tests: temp dirs removed after the file, simple points. */
const dirs: string[] = [];
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fever-vectors-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

export function points(
  data: Float32Array,
  dims: number,
  from: number,
  to: number,
  label: (i: number) => string = () => 'happy',
): Point[] {
  return Array.from({ length: to - from }, (_, j) => {
    const i = from + j;
    return {
      id: testId(i),
      vector: data.slice(i * dims, (i + 1) * dims),
      payload: { collection: 'a', imageId: `img-${i}`, label: label(i), score: (i % 100) / 100, model: 'm' },
    };
  });
}
