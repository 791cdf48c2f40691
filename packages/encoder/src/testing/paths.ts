import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The six group photos face-api ships (demo/sample1..6.jpg): real faces, present after any install. */
export function samplePhotos(): string[] {
  const require = createRequire(import.meta.url);
  const demo = join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo');
  return [1, 2, 3, 4, 5, 6].map((n) => join(demo, `sample${n}.jpg`));
}

/**
 * `../shared/data` beside the checkout: there in development and CI, absent on a user's clone.
 * Returns null when absent, and throws under CI, where a missing data set is a broken setup.
 */
export function sharedData(name: string): string | null {
  const root = resolve(fileURLToPath(new URL('../../../../../shared/data', import.meta.url)));
  const dir = join(process.env.FEVER_SHARED_DATA ?? root, name);
  if (existsSync(dir)) return dir;
  if (process.env.CI) throw new Error(`shared data set ${dir} is missing, and CI is set`);
  console.warn(
    `SKIPPED: shared data set ${dir} is not here (it exists beside the checkout in development and CI)`,
  );
  return null;
}
