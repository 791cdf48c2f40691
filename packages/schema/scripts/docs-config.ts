/**
 * `npm run docs:config`: rewrites the configuration reference in README.md (between
 * `<!-- config:start -->` and `<!-- config:end -->`) from the zod env schema.
 * `--check` changes nothing and exits 1 when the README is out of date.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { replaceConfigBlock } from '../src/config-reference.ts';

const readme = fileURLToPath(new URL('../../../README.md', import.meta.url));
const before = readFileSync(readme, 'utf8');
const after = replaceConfigBlock(before);
if (process.argv.includes('--check')) {
  if (after !== before) {
    console.error('README.md: the configuration reference is out of date; run `npm run docs:config`');
    process.exit(1);
  }
  console.log('README.md: the configuration reference is up to date');
} else if (after === before) {
  console.log('README.md: the configuration reference is already up to date');
} else {
  writeFileSync(readme, after);
  console.log('README.md: configuration reference rewritten');
}
