/** A private Postgres server for the soak bench, from the Debian binaries (no container engine). */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import postgres from 'postgres';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The `postgres` user's ids when the bench runs as root (Postgres refuses to run as root). */
export function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) =>
    Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  const gid = id('-g');
  if (!Number.isInteger(uid) || uid <= 0) throw new Error('running as root, and there is no postgres user');
  return { uid, gid };
}

function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0)
    throw new Error(`no Postgres server binaries under ${root} (apt-get install postgresql)`);
  return join(root, versions[0]!, 'bin');
}

/** A throw-away Postgres cluster in `dir`, on `port`, TCP on 127.0.0.1 only, trust auth. */
export class PrivatePostgres {
  private proc: ChildProcess | undefined;
  private readonly user = postgresUser();
  private readonly bin = postgresBin();
  private readonly data: string;
  private readonly log: string;

  constructor(
    private readonly dir: string,
    readonly port: number,
  ) {
    this.data = join(dir, 'data');
    this.log = join(dir, 'postgres.log');
  }

  get version(): string {
    return basename(join(this.bin, '..'));
  }

  url(db = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${db}`;
  }

  init(): void {
    mkdirSync(this.data, { recursive: true, mode: 0o700 });
    if (this.user) {
      chownSync(this.dir, this.user.uid, this.user.gid);
      chownSync(this.data, this.user.uid, this.user.gid);
    }
    const out = spawnSync(
      join(this.bin, 'initdb'),
      ['-D', this.data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
      { cwd: this.dir, encoding: 'utf8', ...(this.user ?? {}) },
    );
    if (out.status !== 0) throw new Error(`initdb failed:\n${out.stdout}\n${out.stderr}`);
  }

  async start(): Promise<void> {
    const fd = openSync(this.log, 'a');
    this.proc = spawn(
      join(this.bin, 'postgres'),
      [
        '-D',
        this.data,
        '-p',
        String(this.port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'unix_socket_directories=',
        '-c',
        'max_connections=200',
      ],
      { cwd: this.dir, stdio: ['ignore', fd, fd], ...(this.user ?? {}) },
    );
    closeSync(fd);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const client = postgres(this.url(), { max: 1, connect_timeout: 2, onnotice: () => {} });
      try {
        await client`SELECT 1`;
        return;
      } catch (err) {
        if (this.proc.exitCode !== null || Date.now() > deadline) {
          throw new Error(`Postgres did not start (${(err as Error).message}); see ${this.log}`);
        }
      } finally {
        await client.end({ timeout: 1 }).catch(() => {});
      }
      await sleep(200);
    }
  }

  /** fast: roll back and disconnect every session, checkpoint, exit; immediate: no checkpoint (a crash). */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
    await exited;
  }

  /** For the exit handler: no waiting. */
  killNow(): void {
    if (this.proc && this.proc.exitCode === null) this.proc.kill('SIGQUIT');
  }
}
