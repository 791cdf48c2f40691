/** `fever …` child processes of the soak bench, started again when they die, as a supervisor would. */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CLI } from '@fever/test/harness';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Death {
  process: string;
  atS: number;
  code: number | null;
  signal: string | null;
  reason: string;
}

/** Why a process died, from the end of its output. */
function deathReason(output: string): string {
  if (/reading 'write'|postgres\.js bug|METADATA_CONNECTION_LOST/.test(output))
    return 'postgres.js crash on a dropped connection (#1154)';
  const lines = output.trim().split('\n').slice(-40).reverse();
  for (const line of lines) {
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string; err?: unknown; code?: string };
      if ((entry.level ?? 0) >= 50)
        return `${entry.code ? `${entry.code}: ` : ''}${entry.msg ?? ''}`.slice(0, 160);
    } catch {
      if (/Error|error/.test(line)) return line.trim().slice(0, 160);
    }
  }
  return 'no error in its output';
}

/** A `fever …` child process, started again (with back-off) whenever it dies on its own. */
export class Supervised {
  private proc: ChildProcess | undefined;
  private out = '';
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly logFd: number;
  readonly deaths: Death[] = [];
  starts = 0;
  /** Resolves when the current incarnation is ready (set by start()). */
  ready: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    private readonly args: string[],
    private readonly env: Record<string, string>,
    logDir: string,
    private readonly isReady: (p: Supervised) => Promise<void>,
    private readonly clock: () => number,
  ) {
    this.logFd = openSync(join(logDir, `${name}.log`), 'a');
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  output(): string {
    return this.out;
  }

  start(): Promise<void> {
    this.starts++;
    this.out = '';
    const proc = spawn(process.execPath, [CLI, ...this.args], {
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    writeSync(this.logFd, `\n--- start ${this.starts} (pid ${proc.pid}) at ${this.clock().toFixed(1)} s\n`);
    const onData = (chunk: Buffer) => {
      writeSync(this.logFd, chunk);
      // The tail is enough to say why it died.
      this.out = (this.out + chunk.toString()).slice(-64_000);
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.on('exit', (code, signal) => {
      if (this.stopping || proc !== this.proc) return;
      const death: Death = {
        process: this.name,
        atS: Number(this.clock().toFixed(1)),
        code,
        signal,
        reason: deathReason(this.out),
      };
      this.deaths.push(death);
      console.log(
        `  ! ${this.name} died at ${death.atS} s (${code ?? signal}): ${death.reason}; starting it again`,
      );
      // Back-off: a dependency that is still down must not make it spin.
      const delay = Math.min(10_000, 1000 * 2 ** Math.min(4, this.recentDeaths()));
      this.restartTimer = setTimeout(() => {
        if (!this.stopping) void this.start().catch(() => {});
      }, delay);
    });
    this.ready = this.isReady(this);
    return this.ready;
  }

  private recentDeaths(): number {
    const now = this.clock();
    return this.deaths.filter((d) => now - d.atS < 60).length - 1;
  }

  alive(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Returns how it exited. */
  async stop(graceMs = 60_000): Promise<{ code: number | null; signal: string | null; clean: boolean }> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) {
      return { code: p?.exitCode ?? null, signal: p?.signalCode ?? null, clean: false };
    }
    const exited = new Promise<{ code: number | null; signal: string | null }>((r) =>
      p.once('exit', (code, signal) => r({ code, signal })),
    );
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), graceMs);
    const result = await exited;
    clearTimeout(timer);
    closeSync(this.logFd);
    return { ...result, clean: result.code === 0 };
  }

  killNow(): void {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    if (this.alive()) this.proc!.kill('SIGKILL');
  }
}

export async function waitForText(p: Supervised, text: string, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!p.output().includes(text)) {
    if (!p.alive()) throw new Error(`${p.name} exited before '${text}':\n${p.output().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`${p.name}: no '${text}' within ${timeoutMs} ms`);
    await sleep(100);
  }
}

export async function waitForReady(p: Supervised, url: string, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!p.alive()) throw new Error(`${p.name} exited before it was ready:\n${p.output().slice(-3000)}`);
    const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
    if (res?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`${p.name}: not ready within ${timeoutMs} ms`);
    await sleep(250);
  }
}
