/**
 * `fever doctor`: every check says what it found, and when something is wrong, what exactly and
 * how to fix it. Checks never change anything (no migrations, no directories created).
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isFeverError } from '@fever/errors';
import { type Config, parseConfig, type RuntimeMode, runtimeMode } from '@fever/schema';

export const CHECK_NAMES = [
  'config',
  'data-dir',
  'database',
  'redis',
  'qdrant',
  'models',
  'provider',
] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  name: CheckName;
  status: CheckStatus;
  /** One line: what was found. */
  summary: string;
  /** How to fix it (fail and warn). */
  fix?: string;
}

export interface DoctorOptions {
  env?: Readonly<Record<string, string | undefined>>;
  cwd?: string;
  only?: readonly CheckName[];
  /** Per network check (database, Redis, Qdrant). */
  timeoutMs?: number;
}

export interface DoctorReport {
  mode: RuntimeMode | undefined;
  checks: CheckResult[];
  failed: number;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));
const codeOf = (err: unknown) => (isFeverError(err) ? err.code : (err as { code?: string })?.code);

export async function runDoctor(options: DoctorOptions = {}): Promise<DoctorReport> {
  const wanted = (name: CheckName) => !options.only || options.only.includes(name);
  const timeoutMs = options.timeoutMs ?? 5000;
  const checks: CheckResult[] = [];

  let config: Config | undefined;
  try {
    config = parseConfig(options.env ?? process.env, options.cwd === undefined ? {} : { cwd: options.cwd });
  } catch (err) {
    checks.push({
      name: 'config',
      status: 'fail',
      summary: message(err),
      fix: 'correct or unset the variables named; README.md "Configuration" lists what each accepts',
    });
  }
  if (!config) {
    for (const name of CHECK_NAMES.slice(1)) {
      if (wanted(name)) checks.push({ name, status: 'skip', summary: 'needs a valid configuration' });
    }
    return { mode: undefined, checks, failed: 1 };
  }
  const mode = runtimeMode(config);
  if (wanted('config')) checks.push(checkConfig(config, mode));
  if (wanted('data-dir')) checks.push(await checkDataDir(config, mode));
  if (wanted('database')) checks.push(await checkDatabase(config));
  if (wanted('redis')) checks.push(await checkRedis(config, timeoutMs));
  if (wanted('qdrant')) checks.push(await checkQdrant(config, timeoutMs));
  let modelsOk = true;
  if (wanted('models') || wanted('provider')) {
    const models = await checkModels(config);
    modelsOk = models.status !== 'fail';
    if (wanted('models')) checks.push(models);
  }
  if (wanted('provider')) {
    checks.push(
      modelsOk
        ? await checkProvider(config)
        : { name: 'provider', status: 'skip', summary: 'needs the model files (see models)' },
    );
  }
  return { mode, checks, failed: checks.filter((c) => c.status === 'fail').length };
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

function checkConfig(config: Config, mode: RuntimeMode): CheckResult {
  const summary = `valid: metadata ${mode.metadata}, vectors ${mode.vectors}, queue ${mode.queue}`;
  if (!config.apiToken && !LOOPBACK.has(config.host)) {
    return {
      name: 'config',
      status: 'warn',
      summary: `${summary}; the API listens on ${config.host} without FEVER_API_TOKEN`,
      fix: 'set FEVER_API_TOKEN, or keep the API behind a proxy that authenticates',
    };
  }
  return { name: 'config', status: 'ok', summary };
}

/** The embedded backends write under FEVER_DATA_DIR: it (or the folder it will be made in) must be writable. */
async function checkDataDir(config: Config, mode: RuntimeMode): Promise<CheckResult> {
  if (mode.metadata !== 'pglite' && mode.vectors !== 'embedded') {
    return { name: 'data-dir', status: 'skip', summary: 'not used: metadata and vectors are on servers' };
  }
  let dir = config.dataDir;
  while (true) {
    try {
      await access(dir, constants.F_OK);
      break;
    } catch {
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  try {
    await access(dir, constants.W_OK);
  } catch {
    return {
      name: 'data-dir',
      status: 'fail',
      summary: `${config.dataDir} is not writable (${dir} refuses writes)`,
      fix: 'set FEVER_DATA_DIR to a writable folder, or give this user write access to it',
    };
  }
  const state = dir === config.dataDir ? 'exists, writable' : `will be created (${dir} is writable)`;
  return { name: 'data-dir', status: 'ok', summary: `${config.dataDir}: ${state}` };
}

async function checkDatabase(config: Config): Promise<CheckResult> {
  const { metadataOptionsFromConfig, readMigrationStatus } = await import('@fever/metadata');
  const options = metadataOptionsFromConfig(config);
  const where =
    options.driver === 'postgres'
      ? `Postgres at ${describeUrl(options.url, 5432)}`
      : `PGlite in ${options.dataDir}`;
  try {
    const status = await readMigrationStatus(options);
    const total = status.shipped.length;
    if (!status.exists) {
      return {
        name: 'database',
        status: 'ok',
        summary: `${where}: not created yet; fever creates and migrates it on first use`,
      };
    }
    const version = status.serverVersion ? ` (server ${status.serverVersion.split(' ')[0]})` : '';
    if (status.newerThanCode) {
      return {
        name: 'database',
        status: 'warn',
        summary: `${where}${version}: migrated by a newer fever (it has migrations this one does not ship)`,
        fix: 'upgrade this fever to the version that migrated the database',
      };
    }
    if (status.pending.length > 0) {
      return {
        name: 'database',
        status: 'fail',
        summary: `${where}${version}: reachable, but ${status.pending.length} of ${total} migrations are not applied (${status.pending.join(', ')})`,
        fix: 'run `fever migrate` (fever serve and fever worker also migrate when they start)',
      };
    }
    return {
      name: 'database',
      status: 'ok',
      summary: `${where}${version}: reachable, all ${total} migrations applied`,
    };
  } catch (err) {
    const code = codeOf(err);
    if (code === 'METADATA_LOCKED') {
      return {
        name: 'database',
        status: 'warn',
        summary: `${where}: ${message(err).split('. ')[0]}; it cannot be inspected while open`,
        fix: 'nothing, if that process is fever serving or indexing; the embedded database serves one process at a time',
      };
    }
    return {
      name: 'database',
      status: 'fail',
      summary: `${where}: ${message(err)}${code && !message(err).includes(code) ? ` [${code}]` : ''}`,
      fix:
        options.driver === 'postgres'
          ? 'start Postgres (`docker compose up -d postgres`) or correct DATABASE_URL (host, port, user, password, database); unset it to use the embedded database'
          : 'check FEVER_DATA_DIR; move a damaged database folder aside and let fever create a new one',
    };
  }
}

async function checkRedis(config: Config, timeoutMs: number): Promise<CheckResult> {
  if (!config.redisUrl) {
    return { name: 'redis', status: 'skip', summary: 'REDIS_URL is not set: jobs run in-process' };
  }
  const where = `Redis at ${describeUrl(config.redisUrl, 6379)}`;
  try {
    // Loaded here: `fever --help` and the other checks do not pay for core.
    const { probeRedis } = await import('@fever/core');
    const probe = await probeRedis(config.redisUrl, timeoutMs);
    const version = probe.version ? ` ${probe.version}` : '';
    const major = Number(probe.version?.split('.')[0]);
    if (Number.isFinite(major) && major < 5) {
      return {
        name: 'redis',
        status: 'fail',
        summary: `${where}: version${version} is too old for BullMQ (5.0 or newer is needed)`,
        fix: 'upgrade Redis (docker-compose.yml runs redis:7)',
      };
    }
    if (probe.maxmemoryPolicy === undefined) {
      return {
        name: 'redis',
        status: 'warn',
        summary: `${where}${version}: reachable; its maxmemory-policy cannot be read (${probe.configError ?? 'no answer'})`,
        fix: 'make sure the server runs with `maxmemory-policy noeviction`: BullMQ loses jobs when Redis evicts keys',
      };
    }
    if (probe.maxmemoryPolicy !== 'noeviction') {
      return {
        name: 'redis',
        status: 'fail',
        summary: `${where}${version}: maxmemory-policy is ${probe.maxmemoryPolicy}; BullMQ needs noeviction (evicted keys are lost jobs)`,
        fix: 'run `redis-cli CONFIG SET maxmemory-policy noeviction` and set `maxmemory-policy noeviction` in redis.conf',
      };
    }
    return {
      name: 'redis',
      status: 'ok',
      summary: `${where}${version}: reachable, maxmemory-policy noeviction`,
    };
  } catch (err) {
    const code = codeOf(err);
    return {
      name: 'redis',
      status: 'fail',
      summary:
        code === 'AUTH'
          ? `${where}: ${message(err)}`
          : `${where}: cannot connect: ${message(err)}${code && !message(err).includes(code) ? ` [${code}]` : ''}`,
      fix:
        code === 'AUTH'
          ? 'put the right user and password in REDIS_URL (redis://user:password@host:6379)'
          : 'start Redis (`docker compose up -d redis`) or correct REDIS_URL; unset it to run jobs in-process',
    };
  }
}

async function checkQdrant(config: Config, timeoutMs: number): Promise<CheckResult> {
  if (!config.qdrantUrl) {
    return {
      name: 'qdrant',
      status: 'skip',
      summary: `QDRANT_URL is not set: vectors go to the embedded index in ${join(config.dataDir, 'vectors')}`,
    };
  }
  const where = `Qdrant at ${describeUrl(config.qdrantUrl, 6333)}`;
  // As the Qdrant client does: a URL without a port means port 6333.
  const target = new URL(config.qdrantUrl);
  if (!target.port) target.port = '6333';
  target.username = '';
  target.password = '';
  const base = target.toString().replace(/\/+$/, '');
  const headers: Record<string, string> = config.qdrantApiKey ? { 'api-key': config.qdrantApiKey } : {};
  const get = (path: string) => fetch(`${base}${path}`, { headers, signal: AbortSignal.timeout(timeoutMs) });
  try {
    const root = await get('/');
    const about = (await root.json().catch(() => ({}))) as { title?: string; version?: string };
    if (root.ok && !about.title?.toLowerCase().includes('qdrant')) {
      return {
        name: 'qdrant',
        status: 'fail',
        summary: `${where}: answers, but is not Qdrant`,
        fix: "point QDRANT_URL at Qdrant's REST port (6333, not the gRPC port 6334)",
      };
    }
    const collections = await get('/collections');
    if (collections.status === 401 || collections.status === 403) {
      return {
        name: 'qdrant',
        status: 'fail',
        summary: `${where}: refused ${config.qdrantApiKey ? 'the API key' : 'a request without an API key'} (HTTP ${collections.status})`,
        fix: 'set QDRANT_API_KEY to the key Qdrant runs with (QDRANT__SERVICE__API_KEY)',
      };
    }
    if (!collections.ok) {
      return {
        name: 'qdrant',
        status: 'fail',
        summary: `${where}: GET /collections answered HTTP ${collections.status}`,
        fix: 'see the Qdrant server log',
      };
    }
    const body = (await collections.json()) as { result?: { collections?: { name: string }[] } };
    const names = body.result?.collections?.map((c) => c.name) ?? [];
    const faces = names.filter((n) => n.startsWith('faces__'));
    const version = about.version ? ` ${about.version}` : '';
    return {
      name: 'qdrant',
      status: 'ok',
      summary: `${where}${version}: reachable, ${faces.length} fever vector collection${faces.length === 1 ? '' : 's'}`,
    };
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why =
      (err as Error).name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : (cause?.code ?? cause?.message ?? message(err));
    return {
      name: 'qdrant',
      status: 'fail',
      summary: `${where}: cannot connect (${why})`,
      fix: 'start Qdrant (`docker compose up -d qdrant`) or correct QDRANT_URL; unset it to use the embedded index',
    };
  }
}

async function checkModels(config: Config): Promise<CheckResult> {
  const { DEFAULT_EXPRESSION_MANIFEST, detectorManifest, loadExpressionModel, loadModel } = await import(
    '@fever/encoder'
  );
  const manifests = [
    { path: detectorManifest(config.detector), load: loadModel },
    // An expression model may be a composite of several networks: each is checked.
    { path: config.modelManifest ?? DEFAULT_EXPRESSION_MANIFEST, load: loadExpressionModel },
  ];
  const found: string[] = [];
  for (const { path, load } of manifests) {
    try {
      const { manifest } = await load(path);
      found.push(`${manifest.id}@${manifest.version}`);
    } catch (err) {
      const code = codeOf(err);
      const custom =
        path === config.modelManifest ? 'FEVER_MODEL' : path === config.detector ? 'FEVER_DETECTOR' : null;
      const fix = custom
        ? code === 'MODEL_CHECKSUM_MISMATCH'
          ? 'if the model file changed on purpose, put its sha256 (`sha256sum <file>`) in the manifest; else restore the file'
          : `check ${custom} and the \`file\` its manifest names (relative to the manifest)`
        : 'run `npm run models` (it converts the face-api models; `npm ci` runs it too)';
      return { name: 'models', status: 'fail', summary: `${message(err)} [${code}]`, fix };
    }
  }
  return { name: 'models', status: 'ok', summary: `${found.join(', ')}: files present, sha256 match` };
}

async function checkProvider(config: Config): Promise<CheckResult> {
  const { Encoder, cudaProviderInstalled } = await import('@fever/encoder');
  const warnings: string[] = [];
  const logger = {
    info: () => {},
    warn: (fields: Record<string, unknown>) => warnings.push(String(fields.reason ?? '')),
  };
  const setting = `FEVER_DEVICE=${config.device}`;
  let encoder: Awaited<ReturnType<typeof Encoder.create>> | undefined;
  try {
    encoder = await Encoder.create({
      device: config.device,
      threads: config.threads ?? 0,
      expressionModel: config.modelManifest,
      detectorModel: config.detector,
      logger,
    });
    // A session can load and still fail on its first run (CUDA kernels load lazily).
    const size = 64;
    const started = performance.now();
    await encoder.embedCrops([
      { width: size, height: size, data: new Uint8Array(size * size * 3).fill(128) },
    ]);
    const ms = (performance.now() - started).toFixed(0);
    const provider = encoder.provider;
    if (warnings.length > 0) {
      return {
        name: 'provider',
        status: 'warn',
        summary: `${provider} (${setting}): the CUDA provider is installed but did not load: ${warnings[0]}`,
        fix: 'check the NVIDIA driver, CUDA 12 and cuDNN 9 (`nvidia-smi`); set FEVER_DEVICE=cpu to silence this',
      };
    }
    const note =
      provider === 'cpu' && config.device === 'auto' && !cudaProviderInstalled()
        ? '; CUDA provider not installed (for a GPU: ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci)'
        : '';
    return {
      name: 'provider',
      status: 'ok',
      summary: `${provider} (${setting}): models load, a test face embeds in ${ms} ms${note}`,
    };
  } catch (err) {
    return {
      name: 'provider',
      status: 'fail',
      summary: `${message(err)} [${codeOf(err)}]`,
      fix:
        config.device === 'cuda'
          ? 'install the CUDA provider (`ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci`, or the fever GPU image) on a machine with the NVIDIA driver, CUDA 12 and cuDNN 9; or set FEVER_DEVICE=auto'
          : 'reinstall onnxruntime-node (`npm ci`); check the model with FEVER_MODEL unset',
    };
  } finally {
    await encoder?.close().catch(() => {});
  }
}

/** host:port/path of a URL, never its credentials. */
function describeUrl(url: string, defaultPort: number): string {
  const u = new URL(url);
  const path = u.pathname === '/' ? '' : u.pathname;
  return `${u.hostname}:${u.port || defaultPort}${path}`;
}
