#!/usr/bin/env node
// The `fever` command, compiled to apps/cli/dist by `npm run build` (which `npm ci` runs): no
// TypeScript is compiled when it starts. `npm run fever -- …` runs the sources through tsx instead.
import { existsSync } from 'node:fs';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('fever: the command is not built yet: run `npm run build` (npm ci does)\n');
  process.exit(1);
}
await import(main.href);
