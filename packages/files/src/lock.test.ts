import { type ChildProcess, fork, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireProcessLock, type LockHolder } from './lock.ts';

const RACER = fileURLToPath(new URL('./lock-racer.fixture.ts', import.meta.url));

/** The pid of a process that has exited: a lock naming it is stale. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fever-lock-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const heldBy = (holder: LockHolder | undefined) =>
  Object.assign(new Error(`held by ${holder?.pid}`), { holder });

describe('acquireProcessLock', () => {
  it('refuses a second holder, in this process or another, until released', () => {
    const dir = tempDir();
    const lockPath = join(dir, 'LOCK');
    const lock = acquireProcessLock(lockPath, heldBy);
    expect(() => acquireProcessLock(lockPath, heldBy)).toThrow(`held by ${process.pid}`);
    const other = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `import('${new URL('./lock.ts', import.meta.url).href}').then((m) => {
           try { m.acquireProcessLock(${JSON.stringify(lockPath)}, () => new Error('held')); console.log('got it'); }
           catch (e) { console.log(e.message); }
         })`,
      ],
      { encoding: 'utf8' },
    );
    expect(other.stdout.trim()).toBe('held');
    lock.release();
    const again = acquireProcessLock(lockPath, heldBy);
    again.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('takes over a lock whose process is dead', () => {
    const dir = tempDir();
    const lockPath = join(dir, 'LOCK');
    const dead = deadPid();
    writeFileSync(lockPath, `${dead}@${hostname()}`);
    writeFileSync(`${lockPath}.${dead}.0123456789ab.claim`, `${dead}@${hostname()}`);
    const lock = acquireProcessLock(lockPath, heldBy);
    expect(readdirSync(dir).filter((n) => n.endsWith('.claim'))).toHaveLength(1);
    lock.release();
    expect(existsSync(lockPath)).toBe(false);
  });

  it('lets exactly one of several processes racing on a stale lock in, round after round', async () => {
    const dir = tempDir();
    const lockPath = join(dir, 'LOCK');
    const marker = join(dir, 'inside');
    const racers: ChildProcess[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        racers.push(
          fork(RACER, [lockPath, marker], {
            execArgv: ['--import', 'tsx'],
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          }),
        );
      }
      await Promise.all(racers.map((r) => new Promise((resolve) => r.once('message', resolve))));
      const dead = deadPid();
      const rounds = 40;
      let overlaps = 0;
      for (let round = 0; round < rounds; round++) {
        // What a holder killed with SIGKILL leaves behind: its claim and the lock naming it.
        for (const name of readdirSync(dir)) rmSync(join(dir, name));
        writeFileSync(lockPath, `${dead}@${hostname()}`);
        writeFileSync(
          `${lockPath}.${dead}.${round.toString(16).padStart(12, '0')}.claim`,
          `${dead}@${hostname()}`,
        );
        const replies = await Promise.all(
          racers.map(
            (r) =>
              new Promise<{ held: boolean; overlap: boolean }>((resolve) => {
                r.once('message', (m) => resolve(m as { held: boolean; overlap: boolean }));
                r.send(round);
              }),
          ),
        );
        overlaps += replies.filter((r) => r.overlap).length;
        // Holders never release here: the winner's lock is live for the rest of the round.
        expect(replies.filter((r) => r.held)).toHaveLength(1);
      }
      expect(overlaps).toBe(0);
    } finally {
      for (const r of racers) r.kill('SIGKILL');
    }
  }, 120_000);
});
