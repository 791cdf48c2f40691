/**
 * A lock that one process at a time holds on a path: the embedded database and the embedded
 * vector store each live in one process's memory, and a second process on the same files would
 * corrupt them.
 *
 * How it is taken, so that a lock left by a killed process is taken over by exactly one of the
 * processes that start together (reading the dead pid, removing the file and creating it anew
 * lets two of them in):
 *
 *   1. Each contender creates its own claim file beside the lock (`<lock>.<pid>.<random>.claim`,
 *      O_EXCL), then lists the claims. Claims of dead processes on this host are removed (their
 *      names are unique, so removing one never removes a live one).
 *   2. A contender that sees no other live claim holds the lock. One that does withdraws its
 *      claim and tries again a little later (or, if a holder is named, gives up at once).
 *      Of two contenders, the one that listed later saw the other's claim, so two can never both
 *      hold; both may withdraw, and the random wait settles it.
 *   3. The holder names itself in `<lock>` (written aside and renamed), so that others see who
 *      holds it and fail at once. A stale `<lock>` is overwritten, never removed by a contender.
 *
 * The holder's claim stays until release(); a killed holder's claim and `<lock>` are stale
 * from the moment it dies.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';

export interface LockHolder {
  pid: number;
  host: string;
  /** True when the holder is this process (the lock is taken twice). */
  self: boolean;
}

/** `pid@host` of this process: how locks and runs name the process that holds them. */
export function processTag(): string {
  return `${process.pid}@${hostname()}`;
}

/** Whether the process a tag names may still be alive (one on another host cannot be checked: yes). */
export function isTagAlive(tag: string): boolean {
  const holder = parseHolder(tag);
  return holder !== undefined && isAlive(holder);
}

export interface HeldLock {
  release(): void;
}

export interface LockOptions {
  /** How long to keep trying while other processes contend (none holds it yet). Default 2 s. */
  contendMs?: number;
}

/**
 * Takes the lock at `lockPath` (its folder must exist), or throws what `held` makes of the
 * process that holds it (undefined: contenders never settled within `contendMs`).
 */
export function acquireProcessLock(
  lockPath: string,
  held: (holder: LockHolder | undefined) => Error,
  options: LockOptions = {},
): HeldLock {
  const owner = processTag();
  const dir = dirname(lockPath);
  const prefix = `${basename(lockPath)}.`;
  const claim = join(dir, `${prefix}${process.pid}.${randomBytes(6).toString('hex')}.claim`);
  const deadline = Date.now() + (options.contendMs ?? 2000);
  for (;;) {
    const named = readHolder(lockPath);
    if (named && isAlive(named)) throw held(named);
    writeFileSync(claim, owner, { flag: 'wx' });
    const rivals = liveClaims(dir, prefix).filter((c) => c.path !== claim);
    if (rivals.length === 0) {
      const tmp = `${claim}.holder`;
      writeFileSync(tmp, owner);
      renameSync(tmp, lockPath);
      return {
        release() {
          if (readText(lockPath) === owner) removeQuietly(lockPath);
          removeQuietly(claim);
        },
      };
    }
    removeQuietly(claim);
    const holder = readHolder(lockPath);
    if (holder && isAlive(holder)) throw held(holder);
    const self = rivals.find((r) => r.holder.self);
    if (self || Date.now() > deadline) throw held(self?.holder ?? rivals[0]!.holder);
    sleepSync(2 + Math.random() * 20);
  }
}

/** The claims beside the lock whose processes live; dead ones are removed on the way. */
function liveClaims(dir: string, prefix: string): { path: string; holder: LockHolder }[] {
  const out: { path: string; holder: LockHolder }[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(prefix) || !name.endsWith('.claim')) continue;
    const path = join(dir, name);
    const holder = parseHolder(readText(path));
    // A claim being written reads empty for an instant: count it as alive (its maker lives).
    if (!holder) {
      if (readText(path) !== undefined) out.push({ path, holder: unknownHolder(name) });
      continue;
    }
    if (isAlive(holder)) out.push({ path, holder });
    else removeQuietly(path);
  }
  return out;
}

function unknownHolder(claimName: string): LockHolder {
  const pid = Number(claimName.split('.').at(-3));
  return { pid, host: hostname(), self: pid === process.pid };
}

function readHolder(path: string): LockHolder | undefined {
  return parseHolder(readText(path));
}

function parseHolder(text: string | undefined): LockHolder | undefined {
  if (!text) return undefined;
  const at = text.indexOf('@');
  const pid = Number(text.slice(0, at));
  const host = text.slice(at + 1);
  if (at < 0 || !Number.isSafeInteger(pid) || pid <= 0 || !host) return undefined;
  return { pid, host, self: pid === process.pid && host === hostname() };
}

function isAlive(holder: LockHolder): boolean {
  // Another host's process cannot be checked: assume it lives rather than risk corruption.
  if (holder.host !== hostname() || holder.self) return true;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
