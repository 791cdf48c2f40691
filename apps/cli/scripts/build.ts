/**
 * Compiles the `fever` command to JavaScript: apps/cli/dist/main.js and its chunks (esbuild; the
 * @fever/* sources bundled, every other package left to node_modules). The bin runs it, so a
 * command starts without compiling TypeScript first; `npm run fever` runs the sources through
 * tsx instead, for development. Run at install (`npm ci`), and by `npm run build`.
 *
 * Modules that find files beside themselves (`new URL('../models/', import.meta.url)`) keep
 * finding them: in the bundle, each one's import.meta.url still names its source file, by a
 * path relative to the bundle, so the tree can move as a whole (as into a container image).
 *
 * With `ifStale`, nothing is built when the bundle is newer than every source it was built from
 * (tests and benchmarks call it so before they start the CLI).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const cliDir = fileURLToPath(new URL('..', import.meta.url));
const repoRoot = join(cliDir, '..', '..');
export const DIST = join(cliDir, 'dist');
/** The source files a build read, with their modification times: what makes it stale. */
const INPUTS = 'inputs.json';

export async function buildCli(options: { ifStale?: boolean } = {}): Promise<'built' | 'fresh'> {
  if (options.ifStale && isFresh()) return 'fresh';
  // Built beside dist and swapped in whole, so that a fever process starting meanwhile never
  // loads half of one build and half of another.
  const out = `${DIST}.${process.pid}`;
  const result = await esbuild.build({
    absWorkingDir: repoRoot,
    entryPoints: { main: join(cliDir, 'src', 'main.ts') },
    outdir: out,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    keepNames: true,
    metafile: true,
    logLevel: 'warning',
    banner: { js: '// Built by apps/cli/scripts/build.ts from the TypeScript sources: do not edit.' },
    plugins: [workspaceSources(DIST)],
  });
  const inputs = Object.keys(result.metafile.inputs).map((file) => join(repoRoot, file));
  const stamps = Object.fromEntries(inputs.map((file) => [relative(repoRoot, file), statSync(file).mtimeMs]));
  await writeFile(join(out, INPUTS), `${JSON.stringify(stamps)}\n`);
  await rm(DIST, { recursive: true, force: true });
  try {
    await rename(out, DIST);
  } catch (err) {
    // Another build swapped its own in meanwhile: the same sources, so that one serves.
    await rm(out, { recursive: true, force: true });
    if (!isFresh()) throw err;
  }
  return 'built';
}

/** vitest globalSetup of the packages whose tests run the `fever` command: build it if stale. */
export async function setup(): Promise<void> {
  await buildCli({ ifStale: true });
}

/** True when dist exists and no source it was built from has changed since. */
function isFresh(): boolean {
  const file = join(DIST, INPUTS);
  if (!existsSync(file)) return false;
  const stamps = JSON.parse(readFileSync(file, 'utf8')) as Record<string, number>;
  return Object.entries(stamps).every(([path, mtime]) => {
    try {
      return statSync(join(repoRoot, path)).mtimeMs === mtime;
    } catch {
      return false;
    }
  });
}

/**
 * Bundles fever's own packages (@fever/*, TypeScript) and leaves every other package external,
 * to be loaded from node_modules as usual (native addons, JSON, their own files).
 */
function workspaceSources(outdir: string): esbuild.Plugin {
  return {
    name: 'fever-workspace-sources',
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, (args) =>
        args.path.startsWith('@fever/') ? undefined : { path: args.path, external: true },
      );
      build.onLoad({ filter: /\.ts$/ }, async (args) => {
        let contents = await readFile(args.path, 'utf8');
        if (contents.includes('import.meta.url')) {
          const source = relative(outdir, args.path).split('\\').join('/');
          contents = contents.replaceAll(
            'import.meta.url',
            `new URL(${JSON.stringify(source)}, import.meta.url).href`,
          );
        }
        return { contents, loader: 'ts', resolveDir: dirname(args.path) };
      });
    },
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t0 = performance.now();
  await buildCli();
  console.log(`build: ${relative(repoRoot, DIST)} in ${Math.round(performance.now() - t0)} ms`);
}
