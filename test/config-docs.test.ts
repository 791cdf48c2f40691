/**
 * README.md's configuration reference is generated from the zod env schema
 * (`npm run docs:config`); this fails when someone changed one without the other.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configReference, replaceConfigBlock } from '@fever/schema';
import { describe, expect, it } from 'vitest';

const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');

describe('README configuration reference', () => {
  it('documents every variable of the schema', () => {
    const undocumented = configReference()
      .filter((o) => !o.description)
      .map((o) => o.name);
    expect(undocumented, 'add .describe() to these variables in packages/schema/src/config.ts').toEqual([]);
  });

  it('is up to date with the schema (run `npm run docs:config` to fix)', () => {
    // Compared as one string so the failure shows the changed rows as a diff.
    expect(readme, 'README.md is out of date: run `npm run docs:config`').toBe(replaceConfigBlock(readme));
  });
});
