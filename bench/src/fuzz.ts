/**
 * `npm run bench -- fuzz [--modes=embedded,scaled] [--examples=30] [--seed=1] [--workers=2]`
 *
 * The OpenAPI fuzz run: schemathesis (PyPI; `SCHEMATHESIS_BIN`, default `st` on PATH) against
 * `fever serve`'s own /openapi.json, with every check (`--checks all`: no 5xx, status codes,
 * content types, headers and bodies as documented, schema-valid requests accepted, invalid ones
 * refused, 405 for undeclared methods, the token enforced). Per mode:
 *
 * - embedded: PGlite + the embedded vector store in a temp FEVER_DATA_DIR;
 * - scaled: a fresh database on the test Postgres, a private redis-server and a private Qdrant
 *   (`QDRANT_BIN`, see test/harness/qdrant.ts), and one `fever worker`; skipped with the reason
 *   when either is missing.
 *
 * The six face-api sample photos are indexed first (`fever index`, collection `family`), and the
 * server runs with FEVER_API_TOKEN and FEVER_INDEX_ROOTS, so runs and evaluations can be started.
 * A real face id and image id are given to the by-id operations. After the run the server is
 * stopped and started again on the same data (the fuzzer deletes collections; the store must
 * reopen) and /readyz must answer 200. Results: bench/results/fuzz.json; any failure sets the
 * exit code.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { samplePhotos } from '@fever/encoder/testing';
import { createTestDatabase, findTestPostgres } from '@fever/metadata/testing';
import {
  type FeverProcess,
  fever,
  freePort,
  PrivateQdrant,
  PrivateRedis,
  qdrantBinary,
  runFever,
  startWorker,
  stopProcess,
  type TestEnv,
  tempDir,
} from '@fever/test/harness';
import { table, writeResults } from './report.ts';

const TOKEN = 'fuzz-token';

function opt(args: string[], name: string, fallback: string): string {
  return args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
}

interface Report {
  operations: { tested: number; errored: number };
  test_cases: { generated: number; with_failures: number };
  failures: { code: string; title: string; count: number; operations: string[] }[];
  errors: unknown[];
  exit_code: number;
}

interface ModeResult {
  mode: string;
  skipped?: string;
  operations?: number;
  cases?: number;
  failures?: { code: string; title: string; count: number; operations: string[] }[];
  serverErrors?: number;
  errorsLogged?: number;
  restartReady?: boolean;
  seconds?: number;
  exitCode?: number;
}

async function waitReady(url: string, p: FeverProcess): Promise<void> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return;
    } catch {
      // not listening yet
    }
    if (p.proc.exitCode !== null || p.proc.signalCode !== null)
      throw new Error(`fever serve exited:\n${p.output().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`fever serve not ready:\n${p.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** schemathesis.toml for this run: real ids for the by-id operations, and the rules it cannot read. */
function config(faceId: string, imageId: number): string {
  // A 400 for a schema-valid request is right where the rule is not in the schema: offset + k ≤ 1000
  // (a sum of two fields), the vector's length (the served model's dimensions, known at run time)
  // and a face index beyond the faces found in the photo; a 415 where bytes that are no image in
  // a supported format were uploaded as one (the schema says only "binary").
  const ruleStatuses = '["2xx", "400", "401", "403", "404", "409"]';
  return `
[[operations]]
include-name = ["GET /faces/{id}", "GET /faces/{id}/thumbnail"]
parameters = { id = "${faceId}" }

[[operations]]
include-name = "GET /faces/{id}/similar"
parameters = { id = "${faceId}" }
checks.positive_data_acceptance.expected-statuses = ${ruleStatuses}

[[operations]]
include-name = ["GET /images/{id}", "GET /images/{id}/file", "GET /images/{id}/preview"]
parameters = { id = ${imageId} }

[[operations]]
include-name = "POST /search"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "415"]

[[operations]]
include-name = "POST /search/vector"
checks.positive_data_acceptance.expected-statuses = ${ruleStatuses}
`;
}

/** Runs in `cwd` (the run's temp folder): schemathesis keeps a .schemathesis/ cache where it runs. */
function runSchemathesis(args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  const bin = process.env.SCHEMATHESIS_BIN ?? 'st';
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    p.stdout.on('data', (c: Buffer) => {
      output += c.toString();
    });
    p.stderr.on('data', (c: Buffer) => {
      output += c.toString();
    });
    p.on('error', (err) =>
      reject(
        new Error(
          `cannot run schemathesis (${bin}): ${err.message}; install it with ` +
            '`python3 -m venv /opt/st-venv && /opt/st-venv/bin/pip install schemathesis` and set SCHEMATHESIS_BIN=/opt/st-venv/bin/st',
        ),
      ),
    );
    p.on('exit', (code) => resolve({ code, output }));
  });
}

/** Lines the server logged at error level (a 500 is logged as `request failed`). */
function errorLines(output: string): string[] {
  return output.split('\n').filter((line) => {
    try {
      return ((JSON.parse(line) as { level?: number }).level ?? 0) >= 50;
    } catch {
      return false;
    }
  });
}

async function fuzzMode(
  mode: string,
  env: TestEnv,
  opts: { examples: string; seed: string; workers: string },
): Promise<ModeResult> {
  const root = tempDir('fuzz-roots');
  const photos = join(root, 'photos');
  mkdirSync(photos);
  for (const p of samplePhotos()) cpSync(p, join(photos, p.split('/').pop()!));
  const base: TestEnv = { ...env, vars: { FEVER_DEVICE: 'cpu', FEVER_LOG_LEVEL: 'warn', ...env.vars } };
  // With Redis, `fever index` queues the work for the workers, as the stack runs it.
  const worker = env.redisUrl
    ? await startWorker({ ...base, vars: { ...base.vars, FEVER_LOG_LEVEL: 'info' } }) // says when it is ready
    : undefined;
  try {
    return await fuzzServed(mode, base, root, photos, opts);
  } finally {
    if (worker) await stopProcess(worker);
    rmSync(root, { recursive: true, force: true });
  }
}

async function fuzzServed(
  mode: string,
  base: TestEnv,
  root: string,
  photos: string,
  opts: { examples: string; seed: string; workers: string },
): Promise<ModeResult> {
  const indexed = await runFever(['index', photos, '--collection', 'family'], base);
  if (indexed.code !== 0) throw new Error(`fever index failed:\n${indexed.output.slice(-3000)}`);

  const port = await freePort();
  const serveEnv: TestEnv = {
    ...base,
    vars: {
      ...base.vars,
      FEVER_API_TOKEN: TOKEN,
      FEVER_INDEX_ROOTS: root,
      FEVER_PORT: String(port),
      FEVER_LOG_LEVEL: 'info',
    },
  };
  const url = `http://127.0.0.1:${port}`;
  const auth = { Authorization: `Bearer ${TOKEN}` };
  let serve = fever(['serve'], serveEnv);
  const reportDir = tempDir('fuzz-report');
  try {
    await waitReady(url, serve);
    const found = (await (
      await fetch(`${url}/search?k=1`, {
        method: 'POST',
        headers: { ...auth, 'Content-Type': 'image/jpeg' },
        body: readFileSync(samplePhotos()[5]!),
      })
    ).json()) as { faces: { results: { id: string; image: { id: number } }[] }[] };
    const hit = found.faces[0]!.results[0]!;
    const cfg = join(reportDir, 'schemathesis.toml');
    writeFileSync(cfg, config(hit.id, hit.image.id));

    const start = performance.now();
    const st = await runSchemathesis(
      [
        '--config-file',
        cfg,
        'run',
        `${url}/openapi.json`,
        '--header',
        `Authorization: Bearer ${TOKEN}`,
        '--checks',
        'all',
        '--workers',
        opts.workers,
        '--max-examples',
        opts.examples,
        '--seed',
        opts.seed,
        '--no-color',
        '--generation-database',
        'none',
        '--report',
        'json',
        '--report-dir',
        reportDir,
      ],
      reportDir,
    );
    const seconds = (performance.now() - start) / 1000;
    const reportFile = readdirSync(reportDir).find((f) => f.startsWith('json-'));
    if (!reportFile)
      throw new Error(`schemathesis wrote no report (exit ${st.code}):\n${st.output.slice(-4000)}`);
    const report = JSON.parse(readFileSync(join(reportDir, reportFile), 'utf8')) as Report;
    if (report.failures.length > 0) console.log(st.output.slice(-12_000));
    const logged = errorLines(serve.output());

    // The fuzzer created and deleted collections and started runs: the data must reopen.
    await stopProcess(serve);
    serve = fever(['serve'], serveEnv);
    let restartReady = true;
    try {
      await waitReady(url, serve);
    } catch (err) {
      restartReady = false;
      console.error(`${mode}: fever serve did not come back on the fuzzed data: ${(err as Error).message}`);
    }
    return {
      mode,
      operations: report.operations.tested,
      cases: report.test_cases.generated,
      failures: report.failures.map(({ code, title, count, operations }) => ({
        code,
        title,
        count,
        operations,
      })),
      serverErrors: report.failures
        .filter((f) => f.code === 'ST101' || /server error/i.test(f.title))
        .reduce((n, f) => n + f.count, 0),
      errorsLogged: logged.length,
      restartReady,
      seconds: Math.round(seconds),
      exitCode: report.exit_code,
    };
  } finally {
    await stopProcess(serve);
    rmSync(reportDir, { recursive: true, force: true });
  }
}

export default async function fuzzBench(args: string[]): Promise<void> {
  const modes = opt(args, 'modes', 'embedded,scaled').split(',');
  const opts = {
    examples: opt(args, 'examples', '30'),
    seed: opt(args, 'seed', '1'),
    workers: opt(args, 'workers', '2'),
  };
  const results: ModeResult[] = [];
  for (const mode of modes) {
    if (mode === 'embedded') {
      const dataDir = tempDir('fuzz-embedded');
      try {
        results.push(await fuzzMode(mode, { dataDir }, opts));
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    } else if (mode === 'scaled') {
      const pg = await findTestPostgres();
      const qdrant = qdrantBinary();
      if (pg.url === undefined || qdrant.bin === undefined) {
        const reason =
          pg.url === undefined ? `no test Postgres: ${pg.reason}` : (qdrant as { reason: string }).reason;
        console.log(`scaled: SKIPPED (${reason})`);
        results.push({ mode, skipped: reason });
        continue;
      }
      const db = await createTestDatabase(pg.url);
      const redis = new PrivateRedis(await freePort());
      await redis.start();
      const q = await PrivateQdrant.start(qdrant.bin);
      const dataDir = tempDir('fuzz-scaled');
      try {
        results.push(
          await fuzzMode(
            mode,
            { dataDir, databaseUrl: db.url, redisUrl: redis.url, vars: { QDRANT_URL: q.url } },
            opts,
          ),
        );
      } finally {
        await q.stop();
        await redis.kill();
        await db.drop();
        rmSync(dataDir, { recursive: true, force: true });
      }
    } else {
      throw new Error(`--modes takes embedded and/or scaled, got '${mode}'`);
    }
  }
  console.log(
    table(
      results.map((r) => ({
        mode: r.mode,
        operations: r.skipped ? 'skipped' : (r.operations ?? 0),
        'test cases': r.cases ?? '',
        failures: r.failures ? r.failures.reduce((n, f) => n + f.count, 0) : '',
        'server errors (5xx)': r.serverErrors ?? '',
        'errors logged': r.errorsLogged ?? '',
        'restart ready': r.restartReady === undefined ? '' : r.restartReady ? 'yes' : 'NO',
        seconds: r.seconds ?? '',
      })),
    ),
  );
  for (const r of results)
    for (const f of r.failures ?? [])
      console.log(`${r.mode}: ${f.code} ${f.title} ×${f.count}: ${f.operations.join(', ')}`);
  const file = await writeResults('fuzz', { ...opts, results });
  console.log(`results: ${file}`);
  if (results.some((r) => (r.failures?.length ?? 0) > 0 || r.errorsLogged || r.restartReady === false))
    process.exitCode = 1;
}
