import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_FOLDER } from './migrations-folder.ts';

const packageDir = dirname(dirname(fileURLToPath(import.meta.url)));
// The CLI (package.json "bin") sits beside the package entry point.
const drizzleKit = join(dirname(createRequire(import.meta.url).resolve('drizzle-kit')), 'bin.cjs');

describe('committed migrations', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'fever-migrations-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('match the tables (run `npm run db:generate -w @fever/schema` after changing tables.ts)', () => {
    cpSync(MIGRATIONS_FOLDER, scratch, { recursive: true });
    const before = readdirSync(scratch).sort();
    // drizzle-kit wants an --out relative to its cwd.
    const output = execFileSync(
      process.execPath,
      [
        drizzleKit,
        'generate',
        '--dialect=postgresql',
        '--schema=./src/tables.ts',
        `--out=${relative(packageDir, scratch)}`,
      ],
      { cwd: packageDir, encoding: 'utf8' },
    );
    expect(output).toContain('No schema changes');
    expect(readdirSync(scratch).sort()).toEqual(before);
  });
});
