/**
 * `fever serve` as a user runs it: the CLI in a child process on a free loopback port, over a
 * copy of the fixture index; a request in flight when SIGTERM arrives still gets its answer.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { samplePhotos } from '@fever/encoder/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

const CLI = fileURLToPath(new URL('../../cli/src/main.ts', import.meta.url));

let dataDir: string;
let child: ChildProcess | undefined;
let stderr = '';

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'fever-serve-'));
  await cp(inject('fixtureTemplate'), dataDir, { recursive: true });
});

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await rm(dataDir, { recursive: true, force: true });
});

function exited(proc: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null) resolve(proc.exitCode);
    else proc.once('exit', (code) => resolve(code));
  });
}

describe('fever serve', () => {
  it('serves the API on FEVER_HOST/FEVER_PORT and shuts down gracefully on SIGTERM', async () => {
    child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--port', '0'], {
      env: {
        ...process.env,
        FEVER_DATA_DIR: dataDir,
        FEVER_HOST: '127.0.0.1',
        FEVER_DEVICE: 'cpu',
        FEVER_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "serving on" line:\n${stderr}`)), 120_000);
      const check = () => {
        const m = /fever: serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      };
      child!.stderr!.on('data', check);
      child!.once('exit', (code) => reject(new Error(`fever serve exited with ${code}:\n${stderr}`)));
    });
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
    // Ready once the encoder has loaded (it warms up at start).
    let ready = 0;
    for (let i = 0; i < 120 && ready !== 200; i++) {
      ready = (await fetch(`${url}/readyz`)).status;
      if (ready !== 200) await new Promise((r) => setTimeout(r, 500));
    }
    expect(ready).toBe(200);
    // Structured request logs with request ids.
    await fetch(`${url}/collections`, { headers: { 'X-Request-Id': 'serve-test-1' } });

    // A search in flight when SIGTERM arrives is answered before the process exits.
    const photo = await readFile(samplePhotos()[5]!);
    const inFlight = fetch(`${url}/search?k=3`, {
      method: 'POST',
      body: photo,
      headers: { 'Content-Type': 'image/jpeg' },
    });
    await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGTERM');
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { faces: unknown[] }).faces).toHaveLength(1);
    expect(await exited(child)).toBe(0);
    expect(stderr).toContain('"reqId":"serve-test-1"');
    expect(stderr).toContain('"msg":"stopped"');
    // The port is closed.
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});
