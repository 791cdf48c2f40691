/**
 * `npm run bench -- soak [--duration=300] [--searchers=2] [--think-ms=100] [--step=60] [--run-every=15] [--keep]`
 *
 * fever scaled out on loopback for a bounded time: `fever serve` and two `fever worker` processes
 * on Postgres + BullMQ, with mixed traffic (concurrent searches by upload and by face id; index
 * runs started through the API on growing sets of real photos), Redis killed and restarted
 * (empty) once at 35% of the time and Postgres restarted (fast shutdown) once at 65%. Afterwards:
 * requests, errors and p50/p99 per kind, index runs, process restarts, and the exactly-once check:
 * every image of every run is in the metadata once, its faces are in the vector store once (no
 * strays), and a by-id search of one face per image answers. Results: bench/results/soak.json.
 *
 * - Postgres and Redis are private to the bench (temporary, on free ports, removed at the end and
 *   on Ctrl-C): Postgres from the Debian binaries (`initdb`, `postgres`, run as the `postgres`
 *   user when the bench runs as root), Redis like the indexer tests (no persistence).
 * - Vectors: the embedded store (Qdrant is not available here). One process may hold it: the
 *   API does (it searches it, and serves the write stage of the BullMQ runs it starts); the
 *   workers serve discover and embed (`--stages discover,embed`).
 * - A process that dies is started again, as a supervisor would, and each death is reported with
 *   its reason (postgres.js 3.4.9 can crash a process when Postgres drops its connections).
 * - Photos: face-api's six group photos, then muxspace portraits (../shared/data) alternating with
 *   distinct crops of the group photos (several faces each). A run starts every `run-every` seconds; run k indexes the first
 *   k·step photos, so it adds `step` new ones to the collection and skips the ones already there.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { samplePhotos, sharedData } from '@fever/encoder/testing';
import { firstImages, freePort, makeDistinctPhotos, PrivateRedis, Scrape } from '@fever/indexer/testing';
import { modelCollectionName, openVectorStore } from '@fever/vectors';
import postgres from 'postgres';
import { table, writeResults } from './report.ts';

const CLI = fileURLToPath(new URL('../../apps/cli/bin/fever.js', import.meta.url));
const COLLECTION = 'soak';
const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);
const REQUEST_TIMEOUT_MS = 60_000;

function arg(args: string[], name: string, fallback: number): number {
  const raw = args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  if (raw === undefined) return fallback;
  const m = /^(\d+(?:\.\d+)?)(s|m)?$/.exec(raw);
  if (!m) throw new Error(`--${name} takes a number (seconds; 5m for minutes), got '${raw}'`);
  return Number(m[1]) * (m[2] === 'm' ? 60 : 1);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const load1 = () => Number(loadavg()[0]!.toFixed(2));

// ---------------------------------------------------------------------------------------------
// private Postgres

/** The `postgres` user's ids when the bench runs as root (Postgres refuses to run as root). */
function postgresUser(): { uid: number; gid: number } | undefined {
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
class PrivatePostgres {
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

// ---------------------------------------------------------------------------------------------
// supervised fever processes

interface Death {
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
class Supervised {
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

async function waitForText(p: Supervised, text: string, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!p.output().includes(text)) {
    if (!p.alive()) throw new Error(`${p.name} exited before '${text}':\n${p.output().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`${p.name}: no '${text}' within ${timeoutMs} ms`);
    await sleep(100);
  }
}

async function waitForReady(p: Supervised, url: string, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!p.alive()) throw new Error(`${p.name} exited before it was ready:\n${p.output().slice(-3000)}`);
    const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
    if (res?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`${p.name}: not ready within ${timeoutMs} ms`);
    await sleep(250);
  }
}

// ---------------------------------------------------------------------------------------------
// traffic

type Kind = 'search by upload' | 'search by face id' | 'start index run' | 'run status';

interface Outcome {
  kind: Kind;
  atS: number;
  ms: number;
  /** `ok`, or the error code (the API's, an HTTP status, or the socket error). */
  code: string;
}

class Recorder {
  readonly outcomes: Outcome[] = [];
  constructor(private readonly clock: () => number) {}

  /** Calls the API, recording latency and outcome; returns the JSON body of a 2xx answer. */
  async call<T>(kind: Kind, url: string, init: RequestInit = {}): Promise<T | undefined> {
    const atS = this.clock();
    const t0 = performance.now();
    let code: string;
    let body: T | undefined;
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      const text = await res.text();
      if (res.ok) {
        code = 'ok';
        body = JSON.parse(text) as T;
      } else {
        let parsed: string | undefined;
        try {
          parsed = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
        } catch {
          // not JSON
        }
        code = `${res.status} ${parsed ?? 'NO_ERROR_BODY'}`;
      }
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      code = e.name === 'TimeoutError' ? 'TIMEOUT' : (e.cause?.code ?? e.name);
    }
    this.outcomes.push({ kind, atS, ms: performance.now() - t0, code });
    return body;
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

// ---------------------------------------------------------------------------------------------
// photos

/**
 * `needed` photos with distinct contents, in the order the runs take them: the six face-api group
 * photos, then muxspace portraits (one small face each, which the tiny detector often misses)
 * alternating with distinct crops of the group photos (several faces each), so that every run
 * adds faces to search. Also returns the examples the searchers upload.
 */
async function photoPool(
  dir: string,
  needed: number,
): Promise<{ files: string[]; uploads: string[]; sources: string }> {
  mkdirSync(dir, { recursive: true });
  const seen = new Set<string>();
  let n = 0;
  // Copied next to the run folders, which hard-link them (one filesystem).
  const keep = (files: readonly string[], limit: number, copy: boolean): string[] => {
    const out: string[] = [];
    for (const f of files) {
      if (out.length >= limit) break;
      const sha = sha256File(f);
      if (seen.has(sha)) continue;
      seen.add(sha);
      let to = f;
      if (copy) {
        to = join(dir, `${String(n++).padStart(5, '0')}-${basename(f)}`);
        copyFileSync(f, to);
      }
      out.push(to);
    }
    return out;
  };
  const groups = keep(samplePhotos(), Number.POSITIVE_INFINITY, true);
  const mux = sharedData('muxspace');
  const portraits = keep(mux ? firstImages(mux, 100_000) : [], Math.ceil((needed - groups.length) / 2), true);
  const wanted = Math.max(0, needed - groups.length - portraits.length);
  const crops = keep(
    await makeDistinctPhotos(join(dir, 'crops'), wanted, samplePhotos(), 'crop'),
    wanted,
    false,
  );
  const files = [...groups];
  for (let i = 0; i < Math.max(portraits.length, crops.length); i++) {
    if (i < portraits.length) files.push(portraits[i]!);
    if (i < crops.length) files.push(crops[i]!);
  }
  const sources =
    `${groups.length} face-api sample photos, ${portraits.length} muxspace photos` +
    `${mux ? '' : ' (../shared/data/muxspace is not here)'}, ${crops.length} distinct crops of the sample photos`;
  const uploads = [...groups.slice(0, 3), ...(portraits.length >= 5 ? portraits : crops).slice(0, 5)];
  return { files, uploads, sources };
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

// ---------------------------------------------------------------------------------------------

interface RunRecord {
  id: string;
  source: string;
  files: string[];
  startedAtS: number;
  status: string;
  counts?: {
    imagesSeen: number;
    imagesIndexed: number;
    imagesSkipped: number;
    imagesFailed: number;
    facesIndexed: number;
  };
  error?: { code: string; message: string } | null;
  reposted: number;
}

export default async function soakBench(args: string[]): Promise<void> {
  const duration = arg(args, 'duration', 300);
  const searchers = arg(args, 'searchers', 2);
  const thinkMs = arg(args, 'think-ms', 100);
  const step = arg(args, 'step', 60);
  const runEvery = arg(args, 'run-every', 15);
  const keep = args.includes('--keep');
  const loadAtStart = loadavg().map((l) => Number(l.toFixed(2)));

  const root = mkdtempSync(join(tmpdir(), 'fever-soak-'));
  chmodSync(root, 0o755); // the postgres user must reach its folder
  const logs = join(root, 'logs');
  mkdirSync(logs);
  const processes: Supervised[] = [];
  let pg: PrivatePostgres | undefined;
  let redis: PrivateRedis | undefined;
  let cleaned = false;
  // Idempotent and synchronous (it also runs on 'exit'): kills whatever is still running, even
  // a server started again after an earlier call.
  const cleanupNow = () => {
    for (const p of processes) p.killNow();
    pg?.killNow();
    void redis?.kill();
    if (cleaned) return;
    cleaned = true;
    if (!keep) rmSync(root, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: stopping the soak, removing its Postgres, Redis and files`);
    cleanupNow();
    // Give the children a moment to be gone before the temp folder check-out.
    setTimeout(() => process.exit(130), 500);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', cleanupNow);

  try {
    console.log(
      `soak: ${duration} s, ${searchers} searchers (think ${thinkMs} ms), +${step} photos per run, a run every ${runEvery} s; temp ${root}`,
    );

    // 1. Private Postgres and Redis.
    pg = new PrivatePostgres(join(root, 'pg'), await freePort());
    pg.init();
    await pg.start();
    const admin = postgres(pg.url(), { max: 1, onnotice: () => {} });
    await admin.unsafe('CREATE DATABASE fever');
    await admin.end();
    redis = new PrivateRedis(await freePort());
    await redis.start();
    const databaseUrl = pg.url('fever');
    console.log(
      `Postgres ${pg.version} on :${pg.port} (${postgresUser() ? 'as the postgres user' : 'as this user'}), Redis on :${redis.port}`,
    );

    // 2. Photos: enough for every run to add `step` new ones.
    const photosRoot = join(root, 'photos');
    const plannedRuns = Math.ceil(duration / Math.max(1, runEvery)) + 1;
    const pool = await photoPool(join(photosRoot, 'pool'), plannedRuns * step);
    console.log(`${pool.files.length} distinct photos: ${pool.sources}`);
    // Examples to search with: three group photos and five portraits (muxspace, or crops).
    const uploads = pool.uploads.map((f) => new Uint8Array(readFileSync(f)));

    // 3. fever serve + two fever worker.
    // Seconds since the traffic started (negative before: start-up).
    let trafficStart = performance.now();
    const elapsed = () => (performance.now() - trafficStart) / 1000;
    const setupStart = performance.now();
    const apiPort = await freePort();
    const api = `http://127.0.0.1:${apiPort}`;
    const baseEnv: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) baseEnv[k] = v;
    for (const k of ['QDRANT_URL', 'FEVER_API_TOKEN', 'FEVER_WORKER_METRICS_PORT']) delete baseEnv[k];
    Object.assign(baseEnv, {
      DATABASE_URL: databaseUrl,
      REDIS_URL: redis.url,
      FEVER_DATA_DIR: join(root, 'data'),
      FEVER_DEVICE: 'cpu',
      FEVER_HOST: '127.0.0.1',
    });
    const serve = new Supervised(
      'api',
      ['serve'],
      { ...baseEnv, FEVER_PORT: String(apiPort), FEVER_INDEX_ROOTS: photosRoot, FEVER_LOG_LEVEL: 'warn' },
      logs,
      (p) => waitForReady(p, api),
      elapsed,
    );
    processes.push(serve);
    const workerPorts = [await freePort(), await freePort()];
    const workers = workerPorts.map(
      (port, i) =>
        new Supervised(
          `worker-${i + 1}`,
          ['worker', '--stages', 'discover,embed', '--lock-duration', '30000', '--stalled-interval', '5000'],
          { ...baseEnv, FEVER_WORKER_METRICS_PORT: String(port), FEVER_LOG_LEVEL: 'info' },
          logs,
          (p) => waitForText(p, 'worker ready'),
          elapsed,
        ),
    );
    processes.push(...workers);
    console.log('starting fever serve and two fever worker …');
    await serve.start();
    await Promise.all(workers.map((w) => w.start()));
    const warmS = (performance.now() - setupStart) / 1000;
    console.log(`ready after ${warmS.toFixed(1)} s`);

    // Worker-side counters, per incarnation (a restart starts them from 0 again).
    const workerScrapes = new Map<string, Scrape>();
    const scrapeWorkers = async () => {
      for (const [i, w] of workers.entries()) {
        if (!w.alive()) continue;
        const s = await Scrape.from(`http://127.0.0.1:${workerPorts[i]}/metrics`).catch(() => undefined);
        if (s) workerScrapes.set(`${w.name}#${w.starts}`, s);
      }
    };
    const scraper = setInterval(() => void scrapeWorkers(), 5000);

    // 4. Traffic for `duration` seconds, with the two restarts.
    trafficStart = performance.now();
    const rec = new Recorder(elapsed);
    let stop = false;
    // Face ids to search by: those the searches have returned so far.
    const faceIds: string[] = [];
    const known = new Set<string>();
    const noteFaces = (ids: string[]) => {
      for (const id of ids) {
        if (faceIds.length < 5000 && !known.has(id)) {
          known.add(id);
          faceIds.push(id);
        }
      }
    };
    const runs: RunRecord[] = [];
    const events: { atS: number; event: string }[] = [];
    const event = (what: string) => {
      events.push({ atS: Number(elapsed().toFixed(1)), event: what });
      console.log(`  ${elapsed().toFixed(1).padStart(6)} s  ${what}`);
    };

    let seed = 12345;
    const random = () => {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      return seed / 2 ** 32;
    };
    const searcher = async () => {
      while (!stop) {
        if (faceIds.length === 0 || random() < 0.3) {
          const photo = uploads[Math.floor(random() * uploads.length)]!;
          const body = await rec.call<{ faces: { results: { id: string }[] }[] }>(
            'search by upload',
            `${api}/search?k=10`,
            {
              method: 'POST',
              body: photo,
              headers: { 'Content-Type': 'image/jpeg' },
            },
          );
          if (body) noteFaces(body.faces.flatMap((f) => f.results.map((r) => r.id)));
        } else {
          const id = faceIds[Math.floor(random() * faceIds.length)]!;
          const body = await rec.call<{ results: { id: string }[] }>(
            'search by face id',
            `${api}/faces/${id}/similar?k=10`,
          );
          if (body) noteFaces(body.results.map((r) => r.id));
        }
        await sleep(thinkMs);
      }
    };

    const pollRun = async (run: RunRecord) => {
      const body = await rec.call<{ status: string; counts: RunRecord['counts']; error: RunRecord['error'] }>(
        'run status',
        `${api}/runs/${run.id}`,
      );
      if (body) {
        run.status = body.status;
        run.counts = body.counts;
        run.error = body.error;
      }
    };

    const startRun = async (source: string, files: string[]): Promise<RunRecord | undefined> => {
      const body = await rec.call<{ id: string; status: string }>('start index run', `${api}/runs`, {
        method: 'POST',
        body: JSON.stringify({ source, collection: COLLECTION }),
        headers: { 'Content-Type': 'application/json' },
      });
      if (!body) return undefined;
      return {
        id: body.id,
        source,
        files,
        startedAtS: Number(elapsed().toFixed(1)),
        status: body.status,
        reposted: 0,
      };
    };

    const indexer = async () => {
      let size = 0;
      for (let k = 1; !stop; k++) {
        size = Math.min(pool.files.length, size + step);
        const source = join(photosRoot, `run-${String(k).padStart(3, '0')}`);
        mkdirSync(source);
        const files = pool.files.slice(0, size);
        for (const f of files) linkSync(f, join(source, basename(f)));
        let run: RunRecord | undefined;
        while (!run && !stop) {
          run = await startRun(source, files);
          if (!run) await sleep(2000);
        }
        if (!run) break;
        runs.push(run);
        event(`index run ${k} started: ${files.length} photos (${run.id.slice(0, 8)})`);
        // One run every `runEvery` seconds, whether the ones before have finished or not (then
        // they overlap); meanwhile, the unfinished ones are followed as a client would.
        const next = k * runEvery;
        while (!stop && elapsed() < next) {
          for (const r of runs) if (!FINISHED.has(r.status)) await pollRun(r);
          await sleep(1000);
        }
      }
    };

    // When each dependency was down: [stopped, up again] in seconds of traffic.
    const outages: Record<'Redis' | 'Postgres', [number, number] | undefined> = {
      Redis: undefined,
      Postgres: undefined,
    };
    const faults = async () => {
      const wait = async (atS: number) => {
        while (!stop && elapsed() < atS) await sleep(200);
      };
      await wait(duration * 0.35);
      if (stop) return;
      const redisDown = elapsed();
      event('Redis: killed (SIGKILL), comes back empty in 2 s');
      await redis!.kill('SIGKILL');
      await sleep(2000);
      await redis!.start();
      outages.Redis = [redisDown, elapsed()];
      event('Redis: up again');
      await wait(duration * 0.65);
      if (stop) return;
      const pgDown = elapsed();
      event('Postgres: fast shutdown (every session disconnected), back in 3 s');
      await pg!.stop('fast');
      await sleep(3000);
      await pg!.start();
      outages.Postgres = [pgDown, elapsed()];
      event('Postgres: up again');
    };

    const load: number[] = [];
    const loadSampler = setInterval(() => load.push(load1()), 5000);
    const traffic = [...Array.from({ length: searchers }, searcher), indexer(), faults()];
    await sleep(duration * 1000);
    stop = true;
    await Promise.all(traffic);
    clearInterval(loadSampler);
    const trafficS = elapsed();
    event('traffic stopped; waiting for the index runs to finish');

    // 5. Drain: every run finishes. A run whose writer (the API) was restarted after the run's
    // last POST waits for the next POST: the bench sends the same request again, as a client
    // would (it resumes the same run), when a run makes no progress for 30 s.
    const drainDeadline = elapsed() + Math.max(600, duration * 2);
    const progress = new Map<string, { done: number; atS: number }>();
    for (;;) {
      const open = runs.filter((r) => !FINISHED.has(r.status));
      if (open.length === 0 || elapsed() > drainDeadline) break;
      for (const run of open) {
        await pollRun(run);
        const done =
          (run.counts?.imagesIndexed ?? 0) +
          (run.counts?.imagesSkipped ?? 0) +
          (run.counts?.imagesFailed ?? 0);
        const last = progress.get(run.id);
        if (!last || done > last.done) progress.set(run.id, { done, atS: elapsed() });
        else if (elapsed() - last.atS > 30 && !FINISHED.has(run.status)) {
          const again = await startRun(run.source, run.files);
          if (again) {
            run.reposted++;
            event(
              `run ${run.id.slice(0, 8)} stalled at ${done}/${run.counts?.imagesSeen ?? '?'}: request sent again (${again.id === run.id ? 'resumed' : `new run ${again.id.slice(0, 8)}`})`,
            );
          }
          progress.set(run.id, { done, atS: elapsed() });
        }
      }
      await sleep(2000);
    }
    clearInterval(scraper);
    await scrapeWorkers();
    const drainS = elapsed() - trafficS;
    event(`runs finished after ${drainS.toFixed(1)} s of drain`);

    // 6. Exactly once, searchable. Metadata from Postgres; searchability through the API.
    const db = postgres(databaseUrl, { max: 2, onnotice: () => {} });
    const [model] = await db<{ id: string; version: string }[]>`SELECT id, version FROM models`;
    const [collection] = await db<{ id: number }[]>`SELECT id FROM collections WHERE name = ${COLLECTION}`;
    const images = await db<{ id: number; sha256: string; status: string; face_count: number | null }[]>`
      SELECT id, sha256, status, face_count FROM images WHERE collection_id = ${collection!.id}`;
    const faceRows = await db<{ id: string; image_id: number; face_index: number }[]>`
      SELECT id, image_id, face_index FROM faces
      WHERE collection_id = ${collection!.id} AND model_id = ${model!.id} AND model_version = ${model!.version}
      ORDER BY image_id, face_index`;
    const embedded = await db<{ image_id: number; face_count: number }[]>`
      SELECT e.image_id, e.face_count FROM image_embeddings e JOIN images i ON i.id = e.image_id
      WHERE i.collection_id = ${collection!.id} AND e.model_id = ${model!.id} AND e.model_version = ${model!.version}`;
    await db.end();

    const expected = new Map<string, string>(); // sha256 → a file
    for (const run of runs) for (const f of run.files) if (!expected.has(f)) expected.set(f, sha256File(f));
    const expectedShas = new Set(expected.values());
    const bySha = new Map<string, number>();
    for (const img of images) bySha.set(img.sha256, (bySha.get(img.sha256) ?? 0) + 1);
    const missing = [...expectedShas].filter((s) => !bySha.has(s)).length;
    const extra = [...bySha.keys()].filter((s) => !expectedShas.has(s)).length;
    const duplicated = [...bySha.values()].filter((n) => n > 1).length;
    const notIndexed = images.filter((i) => i.status !== 'indexed').length;
    const facesByImage = new Map<number, { id: string; face_index: number }[]>();
    for (const f of faceRows) {
      const list = facesByImage.get(f.image_id) ?? [];
      list.push(f);
      facesByImage.set(f.image_id, list);
    }
    const markerCount = new Map(embedded.map((e) => [e.image_id, e.face_count]));
    let faceCountMismatch = 0;
    for (const img of images) {
      const list = facesByImage.get(img.id) ?? [];
      const indexes = new Set(list.map((f) => f.face_index));
      const ok =
        indexes.size === list.length &&
        list.every((f) => f.face_index < list.length) &&
        markerCount.get(img.id) === list.length &&
        img.face_count === list.length;
      if (!ok) faceCountMismatch++;
    }
    const withFaces = images.filter((i) => (facesByImage.get(i.id)?.length ?? 0) > 0);
    let searchable = 0;
    const unsearchable: string[] = [];
    for (const img of withFaces) {
      const face = facesByImage.get(img.id)![0]!;
      const res = await fetch(`${api}/faces/${face.id}/similar?k=1`, {
        signal: AbortSignal.timeout(30_000),
      }).catch((err: Error) => err);
      if (!(res instanceof Error) && res.status === 200) searchable++;
      else unsearchable.push(`${face.id}: ${res instanceof Error ? res.message : res.status}`);
    }

    // 7. Stop the processes (SIGTERM: each must drain and exit 0), then read the vector store.
    const exits: Record<string, { code: number | null; signal: string | null; clean: boolean }> = {};
    for (const p of [...workers, serve]) exits[p.name] = await p.stop();
    const vectors = await openVectorStore({ kind: 'embedded', dir: join(root, 'data', 'vectors') });
    const vectorCollection = modelCollectionName(model!.id, model!.version);
    const vectorCount = await vectors.count(vectorCollection, { collections: [COLLECTION] });
    let vectorsFound = 0;
    const allIds = faceRows.map((f) => f.id);
    for (let i = 0; i < allIds.length; i += 1000) {
      vectorsFound += (await vectors.get(vectorCollection, allIds.slice(i, i + 1000))).length;
    }
    await vectors.close();

    const exactlyOnce =
      missing === 0 &&
      extra === 0 &&
      duplicated === 0 &&
      notIndexed === 0 &&
      faceCountMismatch === 0 &&
      vectorCount === faceRows.length &&
      vectorsFound === faceRows.length &&
      new Set(allIds).size === allIds.length &&
      searchable === withFaces.length;

    // 8. Report.
    const kinds: Kind[] = ['search by upload', 'search by face id', 'start index run', 'run status'];
    const during = rec.outcomes.filter((o) => o.atS <= trafficS);
    const requestRows = kinds.map((kind) => {
      const all = during.filter((o) => o.kind === kind);
      const ok = all
        .filter((o) => o.code === 'ok')
        .map((o) => o.ms)
        .sort((a, b) => a - b);
      const codes = new Map<string, number>();
      for (const o of all) if (o.code !== 'ok') codes.set(o.code, (codes.get(o.code) ?? 0) + 1);
      return {
        kind,
        requests: all.length,
        'req/s': (all.length / trafficS).toFixed(2),
        errors: all.length - ok.length,
        'error codes': [...codes].map(([c, n]) => `${c} ×${n}`).join(', ') || '-',
        p50_ms: ok.length ? percentile(ok, 50).toFixed(0) : '-',
        p99_ms: ok.length ? percentile(ok, 99).toFixed(0) : '-',
      };
    });
    // Which outage an error belongs to: from the stop until 30 s after the server is back.
    const errorsBy: Record<string, number> = { 'Redis restart': 0, 'Postgres restart': 0, otherwise: 0 };
    for (const o of during) {
      if (o.code === 'ok') continue;
      // The latest outage that had begun (short runs overlap the windows).
      const near = (['Postgres', 'Redis'] as const).find((name) => {
        const w = outages[name];
        return w !== undefined && o.atS >= w[0] && o.atS <= w[1] + 30;
      });
      errorsBy[near ? `${near} restart` : 'otherwise']!++;
    }
    const deaths = processes.flatMap((p) => p.deaths);
    const runRows = {
      started: runs.length,
      succeeded: runs.filter((r) => r.status === 'succeeded').length,
      failed: runs.filter((r) => r.status === 'failed').length,
      unfinished: runs.filter((r) => !FINISHED.has(r.status)).length,
      'requests sent again': runs.reduce((n, r) => n + r.reposted, 0),
      'images indexed': runs.reduce((n, r) => n + (r.counts?.imagesIndexed ?? 0), 0),
      'faces indexed': runs.reduce((n, r) => n + (r.counts?.facesIndexed ?? 0), 0),
    };
    // Two overlapping runs may both embed an image new to both: the same ids, written twice.
    const embeddedAgain = runRows['images indexed'] - images.length;
    const workerJobs = { discover: 0, embed: 0, retried: 0, failures: new Map<string, number>() };
    for (const s of workerScrapes.values()) {
      workerJobs.discover += s.sum('fever_index_jobs_total', { stage: 'discover', outcome: 'completed' });
      workerJobs.embed += s.sum('fever_index_jobs_total', { stage: 'embed', outcome: 'completed' });
      workerJobs.retried += s.sum('fever_index_jobs_total', { outcome: 'retried' });
      for (const f of s.all('fever_index_job_failures_total')) {
        const key = `${f.labels.stage} ${f.labels.code}`;
        workerJobs.failures.set(key, (workerJobs.failures.get(key) ?? 0) + f.value);
      }
    }
    const check = {
      'distinct photos in the runs': expectedShas.size,
      'image rows': images.length,
      missing,
      'not in any run': extra,
      'more than once': duplicated,
      'embedded by two overlapping runs (same ids)': embeddedAgain,
      'not indexed': notIndexed,
      'images whose faces ≠ their count': faceCountMismatch,
      'faces (metadata)': faceRows.length,
      'vectors (store)': vectorCount,
      'faces with their vector': vectorsFound,
      'images with faces': withFaces.length,
      'searchable by face id': searchable,
      'exactly once': exactlyOnce ? 'yes' : 'NO',
    };

    console.log('');
    console.log(table(requestRows));
    console.log(
      `errors within 30 s of the Redis restart: ${errorsBy['Redis restart']}, of the Postgres restart: ` +
        `${errorsBy['Postgres restart']}, at other times: ${errorsBy.otherwise}`,
    );
    console.log('');
    console.log(table([runRows]));
    console.log('');
    console.log(
      table(
        processes.map((p) => ({
          process: p.name,
          restarts: p.deaths.length,
          reasons: [...new Set(p.deaths.map((d) => d.reason))].join('; ') || '-',
          'exit at the end': exits[p.name]!.clean
            ? 'clean (0)'
            : `${exits[p.name]!.code ?? exits[p.name]!.signal}`,
        })),
      ),
    );
    console.log('');
    console.log(table(Object.entries(check).map(([what, value]) => ({ 'exactly-once check': what, value }))));
    if (unsearchable.length > 0) console.log(`not searchable: ${unsearchable.slice(0, 5).join('; ')}`);
    console.log(
      `\nworker /metrics (summed over incarnations): ${workerJobs.discover} discover and ${workerJobs.embed} embed jobs completed, ` +
        `${workerJobs.retried} attempts retried; failures by stage and code: ${[...workerJobs.failures].map(([k, n]) => `${k} ×${n}`).join(', ') || 'none'}`,
    );
    const loadAtEnd = loadavg().map((l) => Number(l.toFixed(2)));
    console.log(
      `${cpus().length} cores (${cpus()[0]?.model}), ${(totalmem() / 2 ** 30).toFixed(0)} GB; load ${loadAtStart.join(' ')} at the start, ` +
        `${loadAtEnd.join(' ')} at the end; traffic ${trafficS.toFixed(0)} s, drain ${drainS.toFixed(0)} s; ` +
        'vectors: the embedded store, held by the API (which serves the write stage); workers: discover + embed',
    );
    const file = await writeResults('soak', {
      date: new Date().toISOString(),
      cpu: cpus()[0]?.model,
      cores: cpus().length,
      loadAtStart,
      loadAtEnd,
      loadDuringMean: load.length ? Number((load.reduce((a, b) => a + b, 0) / load.length).toFixed(2)) : null,
      command: `npm run bench -- soak ${args.join(' ')}`.trim(),
      settings: { duration, searchers, thinkMs, step, runEvery },
      setup: {
        postgres: `private, ${pg.version}`,
        redis: 'private, no persistence (a restart comes back empty)',
        vectors:
          'embedded store, held by the API (the write stage runs there); workers serve discover and embed',
        photos: pool.sources,
        warmupS: Number(warmS.toFixed(1)),
      },
      trafficS: Number(trafficS.toFixed(1)),
      drainS: Number(drainS.toFixed(1)),
      requests: requestRows,
      runs: runRows,
      runList: runs.map((r) => ({
        id: r.id,
        photos: r.files.length,
        status: r.status,
        counts: r.counts,
        error: r.error,
        reposted: r.reposted,
      })),
      restarts: deaths,
      exitsAtEnd: exits,
      workerMetrics: { ...workerJobs, failures: Object.fromEntries(workerJobs.failures) },
      events,
      errorsBy,
      outages,
      slowest: kinds.map((kind) => ({
        kind,
        requests: during
          .filter((o) => o.kind === kind)
          .sort((a, b) => b.ms - a.ms)
          .slice(0, 5)
          .map((o) => ({ atS: Number(o.atS.toFixed(1)), ms: Math.round(o.ms), code: o.code })),
      })),
      errorsAfterTraffic: rec.outcomes.filter((o) => o.atS > trafficS && o.code !== 'ok').length,
      exactlyOnce: { ...check, unsearchable: unsearchable.slice(0, 20) },
    });
    console.log(`wrote ${file}${keep ? `; logs kept under ${logs}` : ''}`);
    if (!exactlyOnce) process.exitCode = 1;
  } catch (err) {
    console.error(`soak failed: ${(err as Error).stack ?? err}`);
    for (const p of processes) console.error(`--- ${p.name}, last output:\n${p.output().slice(-2000)}`);
    if (keep) console.error(`logs: ${logs}`);
    process.exitCode = 1;
  } finally {
    for (const p of processes) p.killNow();
    await pg?.stop('fast').catch(() => {});
    await redis?.kill().catch(() => {});
    cleanupNow();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', cleanupNow);
  }
}
