/**
 * Test support for the cross-package tests (test/) and the benchmarks (bench/): fever processes
 * (the real CLI), a private redis-server, photo corpora and the checks that a collection's
 * metadata and vectors agree.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256Bytes } from '@fever/encoder';
import type { MetadataStore } from '@fever/metadata';
import { metadataOptionsFromConfig, openMetadataStore } from '@fever/metadata';
import { type Config, parseConfig } from '@fever/schema';
import { modelCollectionName, openVectorStore, type VectorStore } from '@fever/vectors';

export const CLI = fileURLToPath(new URL('../../apps/cli/bin/fever.js', import.meta.url));

/** Where a test's fever processes keep their state. */
export interface TestEnv {
  dataDir: string;
  databaseUrl?: string;
  redisUrl?: string;
  /** More environment variables for fever processes. */
  vars?: Record<string, string>;
}

export function envVars(env: TestEnv): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) vars[k] = v;
  delete vars.DATABASE_URL;
  delete vars.REDIS_URL;
  delete vars.QDRANT_URL;
  vars.FEVER_DATA_DIR = env.dataDir;
  vars.FEVER_LOG_LEVEL = 'info';
  if (env.databaseUrl) vars.DATABASE_URL = env.databaseUrl;
  if (env.redisUrl) vars.REDIS_URL = env.redisUrl;
  Object.assign(vars, env.vars);
  return vars;
}

export function configFor(env: TestEnv): Config {
  return parseConfig(envVars(env));
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `fever-${prefix}-`));
}

export interface FeverProcess {
  proc: ChildProcess;
  /** stdout + stderr so far. */
  output(): string;
  /** Resolves when the output contains `text`; rejects if the process exits first. */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `fever <args>` with the test's env. */
export function fever(args: string[], env: TestEnv): FeverProcess {
  const proc = spawn(process.execPath, [CLI, ...args], {
    env: envVars(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    out += chunk.toString();
    for (const l of listeners) l();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => {
      for (const l of listeners) l();
      resolve({ code, signal });
    }),
  );
  return {
    proc,
    output: () => out,
    exited,
    waitFor(text, timeoutMs = 120_000) {
      const found = () => (typeof text === 'string' ? out.includes(text) : text.test(out));
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${text}; output:\n${out.slice(-3000)}`));
        }, timeoutMs);
        const check = () => {
          if (found()) {
            clearTimeout(timer);
            listeners.delete(check);
            resolve();
          } else if (proc.exitCode !== null || proc.signalCode !== null) {
            clearTimeout(timer);
            listeners.delete(check);
            reject(new Error(`fever exited before printing ${text}; output:\n${out.slice(-3000)}`));
          }
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/** Runs `fever <args>` to its end. */
export async function runFever(
  args: string[],
  env: TestEnv,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  const p = fever(args, env);
  const { code, signal } = await p.exited;
  return { code, signal, output: p.output() };
}

/** A `fever worker`, ready to take jobs. */
export async function startWorker(env: TestEnv, args: string[] = []): Promise<FeverProcess> {
  const w = fever(['worker', '--lock-duration', '5000', '--stalled-interval', '2000', ...args], env);
  await w.waitFor('worker ready', 180_000);
  return w;
}

export async function stopProcess(p: FeverProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  p.proc.kill(signal);
  await p.exited;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A private redis-server without persistence: a restart comes back empty, as a crash would. */
export class PrivateRedis {
  private proc: ChildProcess | undefined;
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.proc = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
      ],
      {
        stdio: 'ignore',
      },
    );
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (await pingRedis(this.port)) return;
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not start`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await exited;
  }
}

function pingRedis(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn('redis-cli', ['-p', String(port), 'ping'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    p.on('exit', () => resolve(out.includes('PONG')));
    p.on('error', () => resolve(false));
  });
}

/** Copies photos into a fresh folder (distinct names), returning the folder. */
export function photoFolder(prefix: string, photos: readonly string[]): string {
  const dir = tempDir(prefix);
  mkdirSync(join(dir, 'photos'), { recursive: true });
  photos.forEach((p, i) => {
    copyFileSync(p, join(dir, 'photos', `${String(i).padStart(4, '0')}-${basename(p)}`));
  });
  return join(dir, 'photos');
}

/** The first `n` JPEGs of a muxspace-like folder (`images/*.jpg`), in name order. */
export function firstImages(dir: string, n: number): string[] {
  return readdirSync(join(dir, 'images'))
    .filter((f) => f.toLowerCase().endsWith('.jpg'))
    .sort()
    .slice(0, n)
    .map((f) => join(dir, 'images', f));
}

/** Distinct contents among files (the number of images a collection can hold). */
export function distinctContents(files: readonly string[]): number {
  return new Set(files.map((f) => sha256Bytes(readFileSync(f)))).size;
}

export interface CollectionState {
  collectionId: number;
  images: Record<string, number>;
  embedded: number;
  faceIds: string[];
  /** Faces of the model version with an identity descriptor. */
  identities: number;
  vectorCount: number;
  vectorsFound: number;
}

/** Reads what a collection holds in metadata and in the vector store. */
export async function collectionState(
  metadata: MetadataStore,
  vectors: VectorStore,
  name: string,
): Promise<CollectionState> {
  const collection = await metadata.collections.require(name);
  const [model] = await metadata.models.list();
  if (!model) throw new Error('no model registered');
  const key = { modelId: model.id, modelVersion: model.version };
  const faceIds: string[] = [];
  for (let after: string | undefined; ; ) {
    const page = await metadata.indexing.listFaceIds(collection.id, key, { afterId: after, limit: 5000 });
    faceIds.push(...page);
    if (page.length < 5000) break;
    after = page[page.length - 1];
  }
  const vectorCollection = modelCollectionName(model.id, model.version);
  const vectorCount = (await vectors.describeCollection(vectorCollection))
    ? await vectors.count(vectorCollection, { collections: [name] })
    : 0;
  let vectorsFound = 0;
  for (let i = 0; i < faceIds.length; i += 1000) {
    vectorsFound += (await vectors.get(vectorCollection, faceIds.slice(i, i + 1000))).length;
  }
  return {
    collectionId: collection.id,
    images: await metadata.images.countByStatus(collection.id),
    embedded: await metadata.indexing.countEmbedded(collection.id, key),
    faceIds,
    identities: await metadata.identities.count(collection.id, key),
    vectorCount,
    vectorsFound,
  };
}

/**
 * Opens metadata and vectors of an env: Qdrant when its vars set QDRANT_URL, else the embedded
 * stores (after its fever processes have exited: one process at a time may open them).
 */
export async function openStores(
  env: TestEnv,
): Promise<{ metadata: MetadataStore; vectors: VectorStore; close(): Promise<void> }> {
  const config = configFor(env);
  const metadata = await openMetadataStore(metadataOptionsFromConfig(config));
  const vectors = await openVectorStore(
    config.qdrantUrl
      ? {
          kind: 'qdrant',
          url: config.qdrantUrl,
          ...(config.qdrantApiKey ? { apiKey: config.qdrantApiKey } : {}),
        }
      : { kind: 'embedded', dir: join(config.dataDir, 'vectors') },
  );
  return {
    metadata,
    vectors,
    async close() {
      await Promise.allSettled([metadata.close(), vectors.close()]);
    },
  };
}

/** Writes a list file (one path a line) and returns its path. */
export function listFile(dir: string, paths: readonly string[]): string {
  const file = join(dir, 'list.txt');
  writeFileSync(file, `# photos\n${paths.join('\n')}\n`);
  return file;
}

export function removeQuietly(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
