/**
 * Paths confined to allowed folders ("roots"). A path is judged by where it really leads, links
 * resolved, so a link never leads out of the roots; and a path outside the roots is refused
 * whether or not it exists, so a refusal never tells whether something exists out there.
 */
import { constants, type Stats } from 'node:fs';
import { type FileHandle, lstat, open, readlink, realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

/** True when `path` is `root` or lies under it (both absolute, compared as written). */
export function isWithin(path: string, root: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

const MAX_LINKS = 40;

/**
 * Where `path` really leads: links resolved, also through a part that does not exist (a dangling
 * link is followed to its target, the missing rest is appended as written).
 */
export async function realPathOf(path: string, depth = 0): Promise<string> {
  const abs = resolve(path);
  try {
    return await realpath(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if ((code !== 'ENOENT' && code !== 'ENOTDIR') || depth > MAX_LINKS) return abs;
  }
  const link = await lstat(abs).catch(() => undefined);
  if (link?.isSymbolicLink()) {
    const target = await readlink(abs).catch(() => undefined);
    if (target !== undefined) return realPathOf(resolve(dirname(abs), target), depth + 1);
  }
  const parent = dirname(abs);
  if (parent === abs) return abs;
  return join(await realPathOf(parent, depth + 1), basename(abs));
}

/** The roots as real paths (a root that does not exist stays as written). */
export function realRoots(roots: readonly string[]): Promise<string[]> {
  return Promise.all(roots.map((root) => realPathOf(root)));
}

export type Confined = { ok: true; real: string } | { ok: false; reason: 'outside' | 'missing' };

/**
 * Where `path` really leads, if that is under one of `roots` (real paths, see realRoots) and
 * exists. `outside` is decided before existence is looked at.
 */
export async function confine(path: string, roots: readonly string[]): Promise<Confined> {
  const real = await realPathOf(path);
  if (!roots.some((root) => isWithin(real, root))) return { ok: false, reason: 'outside' };
  const exists = await stat(real).then(
    () => true,
    () => false,
  );
  return exists ? { ok: true, real } : { ok: false, reason: 'missing' };
}

export type OpenedWithin =
  | { ok: true; handle: FileHandle; real: string; stats: Stats }
  | { ok: false; reason: 'outside' | 'missing' | 'not-a-file' | 'changed' };

/**
 * Opens the regular file `path` leads to for reading, only if it lies under one of `roots` (real
 * paths). The real path is opened without following a link, and looked up once more after
 * opening: a link swapped in between is caught (the open file must be the one the path leads to,
 * under the roots).
 */
export async function openWithin(path: string, roots: readonly string[]): Promise<OpenedWithin> {
  const first = await confine(path, roots);
  if (!first.ok) return first;
  let handle: FileHandle;
  try {
    handle = await open(first.real, constants.O_RDONLY | constants.O_NOFOLLOW | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { ok: false, reason: 'missing' };
    if (code === 'ELOOP') return { ok: false, reason: 'changed' };
    throw err;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) {
      await handle.close();
      return { ok: false, reason: 'not-a-file' };
    }
    const again = await confine(path, roots);
    const now = again.ok ? await stat(again.real).catch(() => undefined) : undefined;
    if (!again.ok || again.real !== first.real || now?.ino !== stats.ino || now?.dev !== stats.dev) {
      await handle.close();
      return { ok: false, reason: 'changed' };
    }
    return { ok: true, handle, real: first.real, stats };
  } catch (err) {
    await handle.close().catch(() => {});
    throw err;
  }
}
