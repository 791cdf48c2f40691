/**
 * A private Qdrant server on loopback, for the tests and benchmarks that run against a real one.
 * Qdrant is in no package registry: QDRANT_BIN names a binary built or downloaded by whoever runs
 * them (CI has none, and those runs skip with a line saying so). Its storage survives restart(),
 * so a SIGKILL and a restart behave as a crashed server would.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './harness.ts';

/** The Qdrant binary from QDRANT_BIN, or why there is none. */
export function qdrantBinary(env = process.env): { bin: string } | { bin: undefined; reason: string } {
  const bin = env.QDRANT_BIN;
  if (!bin) return { bin: undefined, reason: 'QDRANT_BIN is not set (the path of a qdrant binary)' };
  if (!existsSync(bin)) return { bin: undefined, reason: `QDRANT_BIN=${bin} does not exist` };
  return { bin };
}

export class PrivateQdrant {
  private proc: ChildProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), 'fever-qdrant-'));

  private constructor(
    private readonly bin: string,
    readonly port: number,
    readonly grpcPort: number,
    /** The key the server demands on every request (QDRANT__SERVICE__API_KEY), when given. */
    readonly apiKey: string | undefined,
  ) {}

  static async start(bin: string, options: { apiKey?: string } = {}): Promise<PrivateQdrant> {
    const q = new PrivateQdrant(bin, await freePort(), await freePort(), options.apiKey);
    await q.restart();
    return q;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Starts the server (again) on the same ports and storage; resolves when it answers. */
  async restart(): Promise<void> {
    const log = openSync(join(this.dir, 'qdrant.log'), 'a');
    this.proc = spawn(this.bin, [], {
      cwd: this.dir, // no config/ there: Qdrant's defaults, overridden by the variables below
      env: {
        ...process.env,
        QDRANT__SERVICE__HOST: '127.0.0.1',
        QDRANT__SERVICE__HTTP_PORT: String(this.port),
        QDRANT__SERVICE__GRPC_PORT: String(this.grpcPort),
        QDRANT__STORAGE__STORAGE_PATH: join(this.dir, 'storage'),
        QDRANT__STORAGE__SNAPSHOTS_PATH: join(this.dir, 'snapshots'),
        QDRANT__TELEMETRY_DISABLED: 'true',
        ...(this.apiKey ? { QDRANT__SERVICE__API_KEY: this.apiKey } : {}),
      },
      stdio: ['ignore', log, log],
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        if ((await fetch(`${this.url}/readyz`)).ok) return;
      } catch {
        // not listening yet
      }
      if (this.proc.exitCode !== null)
        throw new Error(`qdrant exited (${this.proc.exitCode}); see ${this.dir}/qdrant.log`);
      if (Date.now() > deadline)
        throw new Error(`qdrant on port ${this.port} did not start; see ${this.dir}/qdrant.log`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    p.kill('SIGCONT'); // a frozen server (signal('SIGSTOP')) acts on the signal only when resumed
    await exited;
  }

  /**
   * Waits until the optimizer has indexed every collection: status green and every point in an
   * HNSW graph, or the count unchanged for 30 s (a segment under Qdrant's indexing threshold is
   * never put in a graph; it is scanned). Until then searches scan un-indexed segments beside the
   * optimizer's work, so a benchmark would measure the build, not the search.
   */
  async waitIndexed(log: (msg: string) => void = () => {}): Promise<void> {
    const get = async <T>(path: string) =>
      ((await (await fetch(`${this.url}${path}`, { headers: this.headers() })).json()) as { result: T })
        .result;
    const { collections } = await get<{ collections: { name: string }[] }>('/collections');
    for (const { name } of collections) {
      const start = performance.now();
      let lastLog = start;
      let stable = { indexed: -1, since: start };
      for (;;) {
        const { status, points_count, indexed_vectors_count } = await get<{
          status: string;
          points_count: number;
          indexed_vectors_count: number;
        }>(`/collections/${name}`);
        if (status === 'green' && indexed_vectors_count >= points_count) break;
        if (indexed_vectors_count !== stable.indexed)
          stable = { indexed: indexed_vectors_count, since: performance.now() };
        if (status === 'green' && performance.now() - stable.since > 30_000) {
          log(`${name}: optimizer idle with ${indexed_vectors_count}/${points_count} points in HNSW graphs`);
          break;
        }
        if (performance.now() - lastLog > 30_000) {
          lastLog = performance.now();
          log(
            `${name}: optimizing, ${status}, ${indexed_vectors_count}/${points_count} indexed after ${((performance.now() - start) / 1000).toFixed(0)} s`,
          );
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private headers(): Record<string, string> {
    return this.apiKey ? { 'api-key': this.apiKey } : {};
  }

  /** Sends a signal without waiting for anything: SIGSTOP freezes the server, SIGCONT resumes it. */
  signal(signal: NodeJS.Signals): void {
    this.proc?.kill(signal);
  }

  /** Stops it and removes its storage. */
  async stop(): Promise<void> {
    await this.kill('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Synchronous last resort (process 'exit'): kills it, leaves the files. */
  killNow(): void {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}
