/**
 * `fever serve` as a user runs it: the CLI in a child process on a free loopback port, over a
 * copy of the fixture index; a request in flight when SIGTERM arrives still gets its answer.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { samplePhotos } from '@fever/encoder/testing';
import type { IndexRunResponse } from '@fever/schema';
import sharp from 'sharp';
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

/** `fever serve` on a free port over `dir`; resolves with its URL once it listens. */
async function startServe(
  dir: string,
  env: Record<string, string> = {},
): Promise<{ proc: ChildProcess; url: string }> {
  stderr = '';
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--port', '0'], {
    env: {
      ...process.env,
      FEVER_DATA_DIR: dir,
      FEVER_HOST: '127.0.0.1',
      FEVER_DEVICE: 'cpu',
      FEVER_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child = proc;
  proc.stderr!.on('data', (d: Buffer) => {
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
    proc.stderr!.on('data', check);
    proc.once('exit', (code) => reject(new Error(`fever serve exited with ${code}:\n${stderr}`)));
  });
  return { proc, url };
}

describe('fever serve', () => {
  it('serves the API on FEVER_HOST/FEVER_PORT and shuts down gracefully on SIGTERM', async () => {
    const { proc, url } = await startServe(dataDir);
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
    proc.kill('SIGTERM');
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { faces: unknown[] }).faces).toHaveLength(1);
    expect(await exited(proc)).toBe(0);
    expect(stderr).toContain('"reqId":"serve-test-1"');
    expect(stderr).toContain('"msg":"stopped"');
    // The port is closed.
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('answers only to its host names: localhost, FEVER_HOST and FEVER_ALLOWED_HOSTS', async () => {
    const { proc, url } = await startServe(dataDir, { FEVER_ALLOWED_HOSTS: 'fever.example.org' });
    const port = Number(new URL(url).port);
    const status = (host: string, path = '/collections') =>
      new Promise<number>((resolve, reject) =>
        request({ host: '127.0.0.1', port, path, headers: { Host: host } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        })
          .on('error', reject)
          .end(),
      );
    expect(await status(`127.0.0.1:${port}`)).toBe(200);
    expect(await status(`localhost:${port}`)).toBe(200);
    expect(await status('fever.example.org')).toBe(200);
    expect(await status('rebound.attacker.example')).toBe(421);
    expect(await status('rebound.attacker.example', '/healthz')).toBe(200);
    proc.kill('SIGTERM');
    expect(await exited(proc)).toBe(0);
  });

  it('a run whose server was killed shows as interrupted after a restart, and resumes when started again', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fever-serve-kill-'));
    try {
      const photos = join(dir, 'photos');
      await mkdir(photos);
      // Distinct bytes, so every photo is embedded (not skipped as a duplicate): a run of seconds.
      const samples = samplePhotos();
      for (let i = 0; i < 24; i++) {
        const bytes = await sharp(samples[i % samples.length]!)
          .resize(800)
          .jpeg({ quality: 60 + i })
          .toBuffer();
        await writeFile(join(photos, `${i}.jpg`), bytes);
      }
      const env = { FEVER_INDEX_ROOTS: photos };
      const first = await startServe(join(dir, 'data'), env);
      const post = (url: string) =>
        fetch(`${url}/runs`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ source: photos, collection: 'killed', batch: 2 }),
        });
      const started = await post(first.url);
      expect(started.status).toBe(202);
      const { id } = (await started.json()) as IndexRunResponse;
      const get = async (url: string) =>
        (await (await fetch(`${url}/runs/${id}`)).json()) as IndexRunResponse;
      for (let i = 0; i < 600 && (await get(first.url)).counts.imagesIndexed < 2; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      first.proc.kill('SIGKILL');
      await exited(first.proc);

      const second = await startServe(join(dir, 'data'), env);
      const after = await get(second.url);
      expect(after.counts.imagesIndexed, 'the kill landed mid-run').toBeLessThan(24);
      expect(after).toMatchObject({ status: 'interrupted', error: { code: 'RUN_INTERRUPTED' } });
      const listed = (await (await fetch(`${second.url}/runs?status=interrupted`)).json()) as {
        runs: IndexRunResponse[];
      };
      expect(listed.runs.map((r) => r.id)).toEqual([id]);

      const resumed = await post(second.url);
      expect(((await resumed.json()) as IndexRunResponse).id).toBe(id);
      let done = await get(second.url);
      for (let i = 0; i < 1200 && done.status === 'running'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        done = await get(second.url);
      }
      expect(done).toMatchObject({
        status: 'succeeded',
        error: null,
        counts: { imagesSeen: 24, imagesFailed: 0 },
      });
      expect(done.counts.imagesIndexed + done.counts.imagesSkipped).toBe(24);
      second.proc.kill('SIGTERM');
      await exited(second.proc);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
