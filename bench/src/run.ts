/**
 * `npm run bench -- <name> [args]`: runs bench/src/<name>.ts (its default export gets the args).
 * Benchmarks print a table and write JSON to bench/results/<name>.json; they are never tests.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildCli } from '../../apps/cli/scripts/build.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'report.ts'].includes(f) && !f.endsWith('.test.ts'))
  .map((f) => f.slice(0, -3));
const [name, ...args] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <${available.join('|')}> [options]`);
  process.exit(2);
}
// Benchmarks that start `fever` run the compiled command: rebuilt first if its sources changed.
await buildCli({ ifStale: true });
const mod = (await import(`./${name}.ts`)) as { default: (args: string[]) => Promise<void> };
await mod.default(args);
