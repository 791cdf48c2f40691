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
 * Its parts are in soak/: the private Postgres, the supervised processes, the traffic, the photos,
 * the exactly-once check and the report.
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
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, PrivateRedis, Scrape } from '@fever/test/harness';
import postgres from 'postgres';
import { countVectors, exactlyOnce, readIndexedState } from './soak/check.ts';
import { photoPool } from './soak/photos.ts';
import { PrivatePostgres, postgresUser } from './soak/postgres.ts';
import { reportSoak } from './soak/summary.ts';
import { Supervised, waitForReady, waitForText } from './soak/supervised.ts';
import { Workload } from './soak/workload.ts';

const COLLECTION = 'soak';

function arg(args: string[], name: string, fallback: number): number {
  const raw = args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  if (raw === undefined) return fallback;
  const m = /^(\d+(?:\.\d+)?)(s|m)?$/.exec(raw);
  if (!m) throw new Error(`--${name} takes a number (seconds; 5m for minutes), got '${raw}'`);
  return Number(m[1]) * (m[2] === 'm' ? 60 : 1);
}

const load1 = () => Number(loadavg()[0]!.toFixed(2));

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
    const workload = new Workload({
      api,
      collection: COLLECTION,
      duration,
      searchers,
      thinkMs,
      step,
      runEvery,
      photosRoot,
      pool: pool.files,
      // Examples to search with: three group photos and five portraits (muxspace, or crops).
      uploads: pool.uploads.map((f) => new Uint8Array(readFileSync(f))),
      redis,
      pg,
      elapsed,
    });
    const load: number[] = [];
    const loadSampler = setInterval(() => load.push(load1()), 5000);
    await workload.run();
    clearInterval(loadSampler);
    const trafficS = elapsed();
    workload.event('traffic stopped; waiting for the index runs to finish');

    // 5. Drain: every run finishes.
    await workload.drain(elapsed() + Math.max(600, duration * 2));
    clearInterval(scraper);
    await scrapeWorkers();
    const drainS = elapsed() - trafficS;
    workload.event(`runs finished after ${drainS.toFixed(1)} s of drain`);

    // 6. Exactly once, searchable. Metadata from Postgres; searchability through the API.
    const state = await readIndexedState(databaseUrl, api, COLLECTION);

    // 7. Stop the processes (SIGTERM: each must drain and exit 0), then read the vector store.
    const exits: Record<string, { code: number | null; signal: string | null; clean: boolean }> = {};
    for (const p of [...workers, serve]) exits[p.name] = await p.stop();
    const stored = await countVectors(join(root, 'data', 'vectors'), state, COLLECTION);
    const { check, ok } = exactlyOnce(workload.runs, state, stored);

    // 8. Report.
    const file = await reportSoak({
      args,
      settings: { duration, searchers, thinkMs, step, runEvery },
      loadAtStart,
      load,
      setup: { postgres: pg.version, photos: pool.sources, warmupS: Number(warmS.toFixed(1)) },
      trafficS,
      drainS,
      outcomes: workload.rec.outcomes,
      outages: workload.outages,
      runs: workload.runs,
      processes,
      exits,
      workerScrapes,
      events: workload.events,
      check,
      unsearchable: state.unsearchable,
    });
    console.log(`wrote ${file}${keep ? `; logs kept under ${logs}` : ''}`);
    if (!ok) process.exitCode = 1;
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
