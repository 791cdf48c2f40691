/**
 * No module imports itself through others: every import of the workspace's TypeScript (relative
 * paths and `@fever/*` packages, type-only imports included) is followed, and any strongly
 * connected group of files is a loop to break, usually by moving what both sides need into a
 * module of its own.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;

function workspaceDirs(): string[] {
  const { workspaces } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    workspaces: string[];
  };
  return workspaces.flatMap((pattern) =>
    pattern.endsWith('/*')
      ? readdirSync(join(root, pattern.slice(0, -2)), { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .map((d) => join(root, pattern.slice(0, -2), d.name))
      : [join(root, pattern)],
  );
}

/** `@fever/x` and `@fever/x/sub` → the file its package.json exports them as. */
function packageEntries(): Map<string, string> {
  const entries = new Map<string, string>();
  for (const dir of workspaceDirs()) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name: string; exports?: Record<string, unknown> };
    for (const [sub, target] of Object.entries(pkg.exports ?? {})) {
      if (typeof target !== 'string' || !target.endsWith('.ts')) continue;
      entries.set(sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`, resolve(dir, target));
    }
  }
  return entries;
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) sourceFiles(full, out);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

/** Strongly connected groups of more than one file (Tarjan), each as paths from the root. */
function importLoops(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const loops: string[][] = [];
  const visit = (node: string) => {
    index.set(node, counter);
    low.set(node, counter++);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const group: string[] = [];
      for (let member = stack.pop()!; ; member = stack.pop()!) {
        onStack.delete(member);
        group.push(member);
        if (member === node) break;
      }
      if (group.length > 1 || graph.get(node)?.includes(node)) loops.push(group.sort());
    }
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return loops;
}

function workspaceGraph(): Map<string, string[]> {
  const entries = packageEntries();
  const graph = new Map<string, string[]>();
  for (const dir of workspaceDirs()) {
    for (const file of sourceFiles(dir)) {
      const targets = new Set<string>();
      for (const [, spec] of readFileSync(file, 'utf8').matchAll(SPECIFIER)) {
        const target = spec!.startsWith('.') ? resolve(dirname(file), spec!) : entries.get(spec!);
        if (target?.endsWith('.ts') && existsSync(target) && statSync(target).isFile()) targets.add(target);
      }
      graph.set(
        relative(root, file),
        [...targets].map((t) => relative(root, t)),
      );
    }
  }
  return graph;
}

describe('imports', () => {
  it('finds a loop when there is one (the check can fail)', () => {
    const graph = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts']],
    ]);
    expect(importLoops(graph)).toEqual([['a.ts', 'b.ts', 'c.ts']]);
  });

  it('form no loop anywhere in the workspace', () => {
    const graph = workspaceGraph();
    expect(graph.size).toBeGreaterThan(200);
    expect(importLoops(graph)).toEqual([]);
  });
});
