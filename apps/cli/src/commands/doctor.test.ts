/**
 * `fever migrate` and `fever doctor` end to end (the CLI as a user runs it) against the real
 * test Postgres and Redis, plus fake servers for what the shared ones must not be made to do
 * (a Redis that evicts, a Qdrant with an API key), and a real Qdrant with an API key when
 * QDRANT_BIN names a binary (CI has none; the block says it skipped).
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { FACE_API_EXPRESSION_MANIFEST } from '@fever/encoder';
import { createTestDatabase, findTestPostgres, type TestDatabase } from '@fever/metadata/testing';
import { freePort, PrivateQdrant, qdrantBinary } from '@fever/test/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDoctor } from '../doctor/checks.ts';

const bin = fileURLToPath(new URL('../../bin/fever.js', import.meta.url));
const REDIS_URL = process.env.FEVER_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The fever variables of this process are dropped so the tests see only what they set. */
function cleanEnv(env: Record<string, string>): Record<string, string> {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(FEVER_|DATABASE_URL$|REDIS_URL$|QDRANT_)/.test(k)) base[k] = v;
  }
  return { ...base, ...env };
}

async function fever(args: string[], env: Record<string, string>) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, ...args], {
      env: cleanEnv(env),
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The line a check printed, e.g. `FAIL  redis  …`. */
function line(stdout: string, check: string): string {
  const found = stdout.split('\n').find((l) => new RegExp(`^\\S+\\s+${check}\\s`).test(l));
  if (!found) throw new Error(`no line for check ${check} in:\n${stdout}`);
  return found;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fever-doctor-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fever doctor with a broken environment', () => {
  it('names every bad variable on a FAIL line, skips the rest and exits 1', async () => {
    const { code, stdout } = await fever(['doctor'], {
      FEVER_DEVICE: 'gpu',
      FEVER_PORT: 'eighty',
      DATABASE_URL: 'mysql://x@db/fever',
    });
    expect(code).toBe(1);
    const config = line(stdout, 'config');
    expect(config).toMatch(/^FAIL\s+config\s+Invalid configuration:/);
    expect(config).toContain("FEVER_DEVICE must be one of auto|cpu|cuda (got 'gpu')");
    expect(config).toContain('FEVER_PORT must be a whole number');
    expect(config).toContain('DATABASE_URL must be a postgres:// or postgresql:// URL');
    expect(stdout).toMatch(/fix: correct or unset the variables named/);
    expect(line(stdout, 'database')).toMatch(/^skip\s+database\s+needs a valid configuration/);
    expect(stdout).toMatch(/doctor: 1 of 7 checks failed/);
  });

  it('says which server is down and how to fix it', async () => {
    const { code, stdout } = await fever(['doctor', '--only', 'database,redis', '--timeout', '2000'], {
      DATABASE_URL: 'postgres://fever:hunter2@127.0.0.1:1/fever',
      REDIS_URL: 'redis://127.0.0.1:1',
    });
    expect(code).toBe(1);
    expect(line(stdout, 'database')).toMatch(
      /^FAIL\s+database\s+Postgres at 127\.0\.0\.1:1\/fever: cannot connect to Postgres .*ECONNREFUSED/,
    );
    expect(line(stdout, 'redis')).toMatch(
      /^FAIL\s+redis\s+Redis at 127\.0\.0\.1:1: cannot connect: .*ECONNREFUSED/,
    );
    expect(stdout).toContain('fix: start Postgres');
    expect(stdout).toContain('fix: start Redis');
    expect(stdout).not.toContain('hunter2');
  });

  it('refuses a model file whose sha256 does not match its manifest', async () => {
    const manifest = JSON.parse(readFileSync(FACE_API_EXPRESSION_MANIFEST, 'utf8'));
    copyFileSync(join(FACE_API_EXPRESSION_MANIFEST, '..', manifest.file), join(dir, 'model.onnx'));
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, sha256: '0'.repeat(64) }));
    const { code, stdout } = await fever(['doctor', '--only', 'models,provider'], {
      FEVER_MODEL: join(dir, 'manifest.json'),
    });
    expect(code).toBe(1);
    expect(line(stdout, 'models')).toMatch(
      /^FAIL\s+models\s+model file .*model\.onnx has sha256 [0-9a-f]{64}/,
    );
    expect(stdout).toContain('[MODEL_CHECKSUM_MISMATCH]');
    expect(stdout).toMatch(/fix: if the model file changed on purpose/);
    expect(line(stdout, 'provider')).toMatch(/^skip\s+provider/);
  });

  it('rejects an unknown check name', async () => {
    const { code, stderr } = await fever(['doctor', '--only', 'database,vibes'], {});
    expect(code).toBe(1);
    expect(stderr).toMatch(/unknown check vibes/);
  });
});

describe('fever migrate and fever doctor, embedded', () => {
  it('passes every check on a fresh data dir, before and after migrating', async () => {
    const env = { FEVER_DATA_DIR: join(dir, 'data') };
    const before = await fever(['doctor'], env);
    expect(before.code, before.stdout + before.stderr).toBe(0);
    expect(line(before.stdout, 'database')).toMatch(/^ok\s+database\s+PGlite .*not created yet/);
    expect(line(before.stdout, 'redis')).toMatch(/^skip\s+redis\s+REDIS_URL is not set/);
    expect(line(before.stdout, 'qdrant')).toMatch(/^skip\s+qdrant\s+QDRANT_URL is not set/);
    expect(line(before.stdout, 'models')).toMatch(/^ok\s+models\s+.*sha256 match/);
    expect(line(before.stdout, 'provider')).toMatch(/^ok\s+provider\s+(cpu|cuda) \(FEVER_DEVICE=auto\)/);

    const migrate = await fever(['migrate'], env);
    expect(migrate.code, migrate.stderr).toBe(0);
    expect(migrate.stdout).toMatch(/embedded database in .*: applied \d+ migration\(s\): 0000_init/);

    const after = await fever(['doctor', '--only', 'database'], env);
    expect(after.code).toBe(0);
    expect(line(after.stdout, 'database')).toMatch(/^ok\s+database\s+PGlite .*all \d+ migrations applied/);
  });
});

const testPostgres = await findTestPostgres();

if (testPostgres.url === undefined) {
  const why = `Postgres test server unreachable (${testPostgres.reason})`;
  if (process.env.CI) {
    it('fever migrate/doctor on Postgres need the test server (CI is set)', () => {
      throw new Error(`${why}. Start Postgres on 127.0.0.1:5432 with a database 'test'.`);
    });
  } else {
    console.warn(`SKIPPED: fever migrate/doctor on Postgres — ${why}. Set CI=1 to make this a failure.`);
  }
} else {
  const adminUrl = testPostgres.url;
  describe('fever migrate and fever doctor on the real Postgres and Redis', () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(adminUrl);
    });
    afterAll(async () => {
      await database?.drop();
    });

    it('fails on an unmigrated database, migrates it, then passes', async () => {
      const env = { DATABASE_URL: database.url, REDIS_URL };
      const before = await fever(['doctor', '--only', 'config,database,redis'], env);
      expect(before.code).toBe(1);
      expect(line(before.stdout, 'database')).toMatch(
        /^FAIL\s+database\s+Postgres at .*: reachable, but \d+ of \d+ migrations are not applied \(0000_init/,
      );
      expect(before.stdout).toContain('fix: run `fever migrate`');
      expect(line(before.stdout, 'redis')).toMatch(
        /^ok\s+redis\s+Redis at 127\.0\.0\.1:6379 \S+: reachable, maxmemory-policy noeviction/,
      );

      const migrate = await fever(['migrate'], env);
      expect(migrate.code, migrate.stderr).toBe(0);
      expect(migrate.stdout).toMatch(/^Postgres at .*: applied \d+ migration\(s\): 0000_init/);
      const again = await fever(['migrate'], env);
      expect(again.stdout).toMatch(/is up to date/);

      const after = await fever(['doctor', '--only', 'config,data-dir,database,redis,qdrant'], env);
      expect(after.code, after.stdout).toBe(0);
      expect(line(after.stdout, 'database')).toMatch(/^ok\s+database\s+.*all \d+ migrations applied/);
      expect(line(after.stdout, 'data-dir')).toMatch(/^ok\s+data-dir\s/);
      expect(after.stdout).toMatch(/doctor: all checks passed/);
    });

    it('fever migrate exits 1 and names the server it cannot reach', async () => {
      const { code, stderr } = await fever(['migrate'], {
        DATABASE_URL: 'postgres://fever@127.0.0.1:1/fever',
      });
      expect(code).toBe(1);
      expect(stderr).toMatch(
        /cannot connect to Postgres at 127\.0\.0\.1:1\/fever .*\[METADATA_UNAVAILABLE\]/,
      );
    });
  });
}

describe('doctor checks against fake servers', () => {
  let redis: Server;
  let redisUrl: string;
  let qdrant: HttpServer;
  let qdrantUrl: string;

  beforeAll(async () => {
    // A Redis that evicts keys: what BullMQ must never run on.
    redis = createServer((socket) => {
      socket.on('data', (chunk) => {
        // Commands are case-insensitive, as in Redis (ioredis sends them in lower case).
        const text = chunk.toString().toUpperCase();
        if (text.includes('PING')) socket.write('+PONG\r\n');
        else if (text.includes('INFO')) {
          const info = '# Server\r\nredis_version:7.2.4\r\n';
          socket.write(`$${info.length}\r\n${info}\r\n`);
        } else if (text.includes('CONFIG')) {
          socket.write('*2\r\n$16\r\nmaxmemory-policy\r\n$11\r\nallkeys-lru\r\n');
        }
      });
    });
    await new Promise<void>((r) => redis.listen(0, '127.0.0.1', r));
    redisUrl = `redis://127.0.0.1:${(redis.address() as { port: number }).port}`;

    qdrant = createHttpServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/') {
        res.end(JSON.stringify({ title: 'qdrant - vector search engine', version: '1.15.4' }));
      } else if (req.url === '/collections') {
        if (req.headers['api-key'] !== 'sesame') {
          res.statusCode = 401;
          res.end(JSON.stringify({ status: { error: 'Must provide an API key' } }));
        } else {
          res.end(JSON.stringify({ result: { collections: [{ name: 'faces__face-api-expression__1' }] } }));
        }
      } else {
        res.statusCode = 404;
        res.end('{}');
      }
    });
    await new Promise<void>((r) => qdrant.listen(0, '127.0.0.1', r));
    qdrantUrl = `http://127.0.0.1:${(qdrant.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => redis.close(r));
    await new Promise((r) => qdrant.close(r));
  });

  it('fails a Redis whose maxmemory-policy is not noeviction', async () => {
    const report = await runDoctor({ env: { REDIS_URL: redisUrl }, only: ['redis'] });
    expect(report.failed).toBe(1);
    expect(report.checks[0]).toMatchObject({ name: 'redis', status: 'fail' });
    expect(report.checks[0]!.summary).toMatch(
      /7\.2\.4: maxmemory-policy is allkeys-lru; BullMQ needs noeviction/,
    );
    expect(report.checks[0]!.fix).toContain('CONFIG SET maxmemory-policy noeviction');
  });

  it('passes a Qdrant that accepts the API key and fails one that refuses it', async () => {
    const good = await runDoctor({
      env: { QDRANT_URL: qdrantUrl, QDRANT_API_KEY: 'sesame' },
      only: ['qdrant'],
    });
    expect(good.checks[0]).toMatchObject({ status: 'ok' });
    expect(good.checks[0]!.summary).toMatch(/1\.15\.4: reachable, 1 fever vector collection$/);

    const bad = await runDoctor({
      env: { QDRANT_URL: qdrantUrl, QDRANT_API_KEY: 'wrong' },
      only: ['qdrant'],
    });
    expect(bad.checks[0]).toMatchObject({ status: 'fail' });
    expect(bad.checks[0]!.summary).toMatch(/refused the API key \(HTTP 401\)/);
    expect(bad.checks[0]!.fix).toContain('QDRANT_API_KEY');
  });

  it('gives up on a server that does not answer in time', async () => {
    // The fake Redis accepts the connection and never answers an HTTP request.
    const report = await runDoctor({
      env: { QDRANT_URL: redisUrl.replace('redis:', 'http:') },
      only: ['qdrant'],
      timeoutMs: 500,
    });
    expect(report.checks[0]).toMatchObject({ status: 'fail' });
    expect(report.checks[0]!.summary).toMatch(/cannot connect \(no answer within 500 ms\)/);
  });
});

describe('a Redis that speaks TLS only (rediss://)', () => {
  let tlsDir: string;
  let server: ChildProcess;
  let url: string;

  beforeAll(async () => {
    // A CA and a certificate for localhost signed by it, then redis-server on a TLS port only.
    tlsDir = mkdtempSync(join(tmpdir(), 'fever-redis-tls-'));
    const ssl = (args: string) => execFileSync('openssl', args.split(' '), { cwd: tlsDir, stdio: 'ignore' });
    ssl('req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=fever-test-CA -keyout ca.key -out ca.crt');
    ssl('req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout redis.key -out redis.csr');
    writeFileSync(join(tlsDir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    ssl(
      'x509 -req -in redis.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -extfile san.ext -out redis.crt',
    );
    const port = await freePort();
    const args = `--port 0 --tls-port ${port} --bind 127.0.0.1 --tls-cert-file redis.crt --tls-key-file redis.key --tls-ca-cert-file ca.crt --tls-auth-clients no --appendonly no`;
    server = spawn('redis-server', [...args.split(' '), '--save', ''], { cwd: tlsDir, stdio: 'ignore' });
    url = `rediss://localhost:${port}`;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const up = await new Promise<boolean>((resolve) => {
        const socket = connect(port, '127.0.0.1');
        socket.once('connect', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      });
      if (up) break;
      if (Date.now() > deadline) throw new Error('redis-server did not start with TLS');
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  afterAll(() => {
    server?.kill('SIGKILL');
    rmSync(tlsDir, { recursive: true, force: true });
  });

  it('fever doctor checks it over TLS, trusting the CA that NODE_EXTRA_CA_CERTS names', async () => {
    const trusted = await fever(['doctor', '--only', 'redis'], {
      REDIS_URL: url,
      NODE_EXTRA_CA_CERTS: join(tlsDir, 'ca.crt'),
    });
    expect(line(trusted.stdout, 'redis')).toMatch(
      /^ok\s+redis\s+Redis at localhost:\d+ 7\.\S+: reachable, maxmemory-policy noeviction/,
    );
    // Without the CA the certificate is refused: the check does speak TLS, and verifies it.
    const untrusted = await fever(['doctor', '--only', 'redis'], { REDIS_URL: url });
    expect(line(untrusted.stdout, 'redis')).toMatch(/^FAIL\s+redis\s+.*cannot connect: .*certificate/i);
  });
});

const qdrantBin = qdrantBinary();
if (qdrantBin.bin === undefined) console.warn(`doctor on a real Qdrant SKIPPED: ${qdrantBin.reason}`);

describe.skipIf(qdrantBin.bin === undefined)('fever doctor on a real Qdrant that demands an API key', () => {
  let server: PrivateQdrant;
  beforeAll(async () => {
    server = await PrivateQdrant.start(qdrantBin.bin!, { apiKey: 'sesame' });
  }, 120_000);
  afterAll(() => server?.stop());

  it('passes with the key and names the version; fails without it and with a wrong one', async () => {
    const check = async (env: Record<string, string>) =>
      (await runDoctor({ env: { QDRANT_URL: server.url, ...env }, only: ['qdrant'] })).checks[0]!;
    const good = await check({ QDRANT_API_KEY: 'sesame' });
    expect(good).toMatchObject({ status: 'ok' });
    expect(good.summary).toMatch(/ \d+\.\d+\.\d+: reachable, 0 fever vector collections$/);

    const none = await check({});
    expect(none).toMatchObject({ status: 'fail' });
    expect(none.summary).toMatch(/refused a request without an API key \(HTTP 401\)/);
    const wrong = await check({ QDRANT_API_KEY: 'wrong' });
    expect(wrong).toMatchObject({ status: 'fail' });
    expect(wrong.summary).toMatch(/refused the API key \(HTTP 401\)/);
    expect(wrong.fix).toContain('QDRANT__SERVICE__API_KEY');
  });
});
