/**
 * Runtime configuration from the environment. Apps call parseConfig() once at start and pass the
 * result down; nothing else reads process.env. Every variable is optional: with none set, fever
 * runs in the embedded mode (PGlite + on-disk vector index + in-process queue) under ./.fever.
 */
import { isAbsolute, resolve } from 'node:path';
import { ConfigError } from '@fever/errors';
import { z } from 'zod';

export const DEVICES = ['auto', 'cpu', 'cuda'] as const;
export type Device = (typeof DEVICES)[number];
/** The bundled face detectors FEVER_DETECTOR / --detector can name (else a manifest path). */
export const DETECTORS = ['tiny', 'tiny-608', 'ssd'] as const;
export type DetectorName = (typeof DETECTORS)[number];
export const VECTOR_DTYPES = ['f32', 'f16', 'i8'] as const;
export type VectorDtype = (typeof VECTOR_DTYPES)[number];

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * What each variable accepts, in words, for the generated configuration reference
 * (config-reference.ts). The helpers below register their schemas here.
 */
export const configFormats = z.registry<{ format: string }>();

function urlVar(protocols: readonly string[]) {
  const expected = protocols.map((p) => `${p}//`).join(' or ');
  const schema = z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a ${expected} URL` },
  );
  return schema.register(configFormats, {
    format: `${protocols.map((p) => `\`${p}//…\``).join(' or ')} URL`,
  });
}

function pathVar() {
  return z.string().register(configFormats, { format: 'path' });
}

function textVar(format = 'text') {
  return z.string().register(configFormats, { format });
}

function intVar(min: number, max: number) {
  const schema = z
    .string()
    .regex(/^\d+$/, { message: 'must be a whole number' })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, { message: `must be at least ${min}` })
        .max(max, { message: `must be at most ${max}` }),
    );
  return schema.register(configFormats, { format: `integer ${min}–${max}` });
}

/** A separated list; blank items are dropped, unset → []. */
function listVar(separator = ',') {
  const schema = z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(separator)
        .map((item) => item.trim())
        .filter((item) => item !== ''),
    );
  const name = separator === ',' ? 'comma' : `\`${separator}\``;
  return schema.register(configFormats, { format: `${name}-separated list` });
}

function isOrigin(value: string): boolean {
  try {
    const u = new URL(value);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === value;
  } catch {
    return false;
  }
}

function enumVar<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { message: `must be one of ${values.join('|')}` });
}

export const envSchema = z.object({
  DATABASE_URL: urlVar(['postgres:', 'postgresql:'])
    .optional()
    .describe(
      'Postgres for the metadata (collections, images, faces, runs). Unset → embedded PGlite in ' +
        '`<FEVER_DATA_DIR>/metadata`, which one process at a time may open.',
    ),
  FEVER_DATA_DIR: pathVar()
    .default('.fever')
    .describe(
      'Where the embedded mode keeps its files (PGlite database, vector index); relative paths are ' +
        'resolved against the working directory.',
    ),
  REDIS_URL: urlVar(['redis:', 'rediss:'])
    .optional()
    .describe(
      'Redis for the BullMQ job queues that `fever worker` processes consume. Unset → jobs run ' +
        'in-process. The server must run with `maxmemory-policy noeviction`.',
    ),
  QDRANT_URL: urlVar(['http:', 'https:'])
    .optional()
    .describe(
      'Qdrant (REST port, usually 6333) for the face vectors. Unset → an embedded on-disk HNSW index ' +
        '(usearch) in `<FEVER_DATA_DIR>/vectors`.',
    ),
  QDRANT_API_KEY: textVar().optional().describe('API key sent to Qdrant; only with QDRANT_URL.'),
  FEVER_DEVICE: enumVar(DEVICES)
    .default('auto')
    .describe(
      'Where the encoder runs. `auto`: CUDA when its provider is installed and loads, else the CPU ' +
        '(the choice is logged). `cuda` never falls back: if CUDA cannot load, fever stops and says why.',
    ),
  FEVER_THREADS: intVar(1, 1024)
    .optional()
    .describe('ONNX Runtime intra-op threads. Unset → one per physical core.'),
  FEVER_MODEL: pathVar()
    .optional()
    .describe(
      'Path of an expression model manifest (JSON, see "Your own model"). Unset → the bundled ' +
        'default, `fever-expression` (see "Bundled models").',
    ),
  FEVER_DETECTOR: textVar(`${DETECTORS.join(' | ')} | path`)
    .optional()
    .describe(
      'The face detector for indexing and search by upload: `tiny` (face-api TinyFaceDetector at 416 px), ' +
        '`tiny-608` (the same at 608 px), `ssd` (face-api SSD MobileNet v1, 512 px), or the path of a ' +
        'detector manifest. Unset → `tiny`. docs/BENCHMARKS.md ("Face detectors") compares them.',
    ),
  FEVER_MAX_PIXELS: intVar(1, 1_000_000_000)
    .default(50_000_000)
    .describe('Images with more pixels are refused before decoding (decompression bombs).'),
  FEVER_API_TOKEN: textVar()
    .optional()
    .describe(
      "Bearer token the API requires on every route but the health checks and the search page's " +
        'own HTML/JS/CSS (which hold no data). Unset → no auth: keep the API on localhost.',
    ),
  FEVER_LOG_LEVEL: enumVar(LOG_LEVELS).default('info').describe('Level of the logs on stderr.'),
  FEVER_LOG_FORMAT: enumVar(LOG_FORMATS)
    .default('auto')
    .describe(
      'How logs on stderr look: `pretty` (one readable line each: time, level, message, fields), ' +
        '`json` (one JSON object each, for log collectors), or `auto`: pretty on a terminal, JSON ' +
        'when stderr is piped or redirected.',
    ),
  FEVER_HOST: textVar('host name or IP address')
    .default('127.0.0.1')
    .describe("Address the API listens on, and a worker's metrics endpoint (`0.0.0.0` in a container)."),
  FEVER_PORT: intVar(0, 65535).default(8080).describe('Port the API listens on (`0`: any free port).'),
  FEVER_WORKER_METRICS_PORT: intVar(0, 65535)
    .optional()
    .describe(
      'Port on which `fever worker` serves Prometheus metrics (`GET /metrics`: queue depth, jobs, ' +
        'failures, encoder, vector store and metadata latency). Unset → no endpoint; `0`: any free ' +
        'port (logged).',
    ),
  FEVER_UPSERT_BATCH_SIZE: intVar(1, 10_000).default(128).describe('Points per vector-store upsert request.'),
  FEVER_VECTOR_EF_SEARCH: intVar(1, 10_000)
    .default(64)
    .describe(
      'HNSW search beam (ef) per query, in the embedded store and in Qdrant (`hnsw_ef`): a wider beam ' +
        'finds more of the true nearest faces and costs more time. 64 finds 98.9% of the exact top 10 ' +
        'on real face embeddings (i8 graph; f32: 99.2%), 128 finds 99.6% at twice the search time ' +
        '(docs/BENCHMARKS.md).',
    ),
  FEVER_VECTOR_DTYPE: enumVar(VECTOR_DTYPES)
    .default('i8')
    .describe(
      'How the embedded store keeps the HNSW graph of a collection it creates (an existing one keeps ' +
        'its own). `i8`: 8-bit vectors in the graph, searched 1.3–3× faster than `f32` (more as the ' +
        'collection grows) for 0.3 points of recall@10 at ef 64; candidates are re-scored from a ' +
        'float32 copy, so scores are exact; 11% less memory and 31% less disk than `f32`. `f16`: 31% ' +
        'less memory than `f32`, but exact and label-filtered scans run in JavaScript, 2–8× slower. ' +
        'Ignored with Qdrant (docs/BENCHMARKS.md, docs/SCALING.md).',
    ),
  FEVER_CORS_ORIGINS: listVar()
    .pipe(
      z.array(
        z.string().refine((o) => o === '*' || isOrigin(o), {
          message: "must be '*' or comma-separated origins such as https://example.org",
        }),
      ),
    )
    .describe(
      'Origins allowed to call the API from a browser (CORS): origins such as ' +
        "`https://example.org`, or `*` for any. Unset → no CORS headers (the API's own page is " +
        'same-origin and needs none).',
    ),
  FEVER_MAX_UPLOAD_BYTES: intVar(1024, 1024 * 1024 * 1024)
    .default(16 * 1024 * 1024)
    .describe('Largest request body the API accepts (an uploaded photo), in bytes.'),
  FEVER_INDEX_ROOTS: listVar(':').describe(
    'Folders whose files the API may read: sources of index runs (`POST /runs`), evaluation inputs ' +
      '(`POST /eval/fec`) and every path named in them, the files its runs index, and the indexed ' +
      'files it serves (links are resolved and never lead out). Unset → the API starts neither runs ' +
      'nor evaluations (the CLI still can), and serves what the CLI indexed wherever it is ' +
      '(docs/SECURITY.md).',
  ),
  FEVER_ALLOWED_HOSTS: listVar()
    .pipe(
      z.array(
        z.string().refine((h) => h === '*' || /^[a-z0-9.:_-]+$/i.test(h), {
          message: "must be '*' or comma-separated host names or IP addresses",
        }),
      ),
    )
    .describe(
      'Host names the API answers to besides `localhost`, `127.0.0.1`, `::1` and `FEVER_HOST` ' +
        '(the `Host` header of every request but /healthz and /readyz must name one, else 421 ' +
        'HOST_NOT_ALLOWED: a web page cannot reach a local API through DNS rebinding). Add the ' +
        "names clients use to reach it (e.g. `fever.example.org`, a container's service name); " +
        '`*` accepts any.',
    ),
});

export type EnvVar = keyof z.infer<typeof envSchema>;

/** Values that may carry credentials: never echoed in errors, masked by redactConfig(). */
export const SECRET_VARS: ReadonlySet<string> = new Set([
  'DATABASE_URL',
  'REDIS_URL',
  'QDRANT_URL',
  'QDRANT_API_KEY',
  'FEVER_API_TOKEN',
]);

export interface Config {
  databaseUrl: string | undefined;
  /** Absolute. */
  dataDir: string;
  redisUrl: string | undefined;
  qdrantUrl: string | undefined;
  qdrantApiKey: string | undefined;
  device: Device;
  threads: number | undefined;
  /** Absolute path, or undefined for the bundled model. */
  modelManifest: string | undefined;
  /** A bundled detector's name or an absolute manifest path; undefined → the default (tiny). */
  detector: DetectorName | string | undefined;
  maxPixels: number;
  apiToken: string | undefined;
  logLevel: LogLevel;
  logFormat: LogFormat;
  host: string;
  port: number;
  /** Port of a worker's /metrics endpoint; undefined → none, 0 → any free port. */
  workerMetricsPort: number | undefined;
  upsertBatchSize: number;
  /** HNSW search beam (ef) of the vector store. */
  vectorEfSearch: number;
  /** Graph storage of new embedded collections. */
  vectorDtype: VectorDtype;
  /** CORS origins ('*' = any); empty → no CORS headers. */
  corsOrigins: string[];
  maxUploadBytes: number;
  /** Absolute folders the API may start index runs under; empty → none. */
  indexRoots: string[];
  /** Host names the API answers to beyond localhost and `host` (lower case; '*' = any). */
  allowedHosts: string[];
}

export interface RuntimeMode {
  metadata: 'pglite' | 'postgres';
  vectors: 'embedded' | 'qdrant';
  queue: 'inprocess' | 'bullmq';
}

/**
 * Validates the environment. Throws one ConfigError (code `config_invalid`) that names every bad
 * variable. An empty variable counts as unset, as docker-compose writes `VAR=` for blanks.
 */
export function parseConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: { cwd?: string } = {},
): Config {
  const input: Record<string, string> = {};
  for (const key of Object.keys(envSchema.shape)) {
    const value = env[key]?.trim();
    if (value) input[key] = value;
  }
  const parsed = envSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      const shown = SECRET_VARS.has(name) ? '' : ` (got '${input[name]}')`;
      return `${name} ${issue.message}${shown}`;
    });
    throw new ConfigError('CONFIG_INVALID', `Invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  if (e.QDRANT_API_KEY !== undefined && e.QDRANT_URL === undefined) {
    throw new ConfigError(
      'CONFIG_INVALID',
      'Invalid configuration: QDRANT_API_KEY is set but QDRANT_URL is not',
    );
  }
  const cwd = options.cwd ?? process.cwd();
  const absolute = (p: string) => (isAbsolute(p) ? p : resolve(cwd, p));
  return {
    databaseUrl: e.DATABASE_URL,
    dataDir: absolute(e.FEVER_DATA_DIR),
    redisUrl: e.REDIS_URL,
    qdrantUrl: e.QDRANT_URL,
    qdrantApiKey: e.QDRANT_API_KEY,
    device: e.FEVER_DEVICE,
    threads: e.FEVER_THREADS,
    modelManifest: e.FEVER_MODEL === undefined ? undefined : absolute(e.FEVER_MODEL),
    detector: e.FEVER_DETECTOR === undefined ? undefined : detectorChoice(e.FEVER_DETECTOR, cwd),
    maxPixels: e.FEVER_MAX_PIXELS,
    apiToken: e.FEVER_API_TOKEN,
    logLevel: e.FEVER_LOG_LEVEL,
    logFormat: e.FEVER_LOG_FORMAT,
    host: e.FEVER_HOST,
    port: e.FEVER_PORT,
    workerMetricsPort: e.FEVER_WORKER_METRICS_PORT,
    upsertBatchSize: e.FEVER_UPSERT_BATCH_SIZE,
    vectorEfSearch: e.FEVER_VECTOR_EF_SEARCH,
    vectorDtype: e.FEVER_VECTOR_DTYPE,
    corsOrigins: e.FEVER_CORS_ORIGINS,
    maxUploadBytes: e.FEVER_MAX_UPLOAD_BYTES,
    indexRoots: e.FEVER_INDEX_ROOTS.map(absolute),
    allowedHosts: e.FEVER_ALLOWED_HOSTS.map((h) => h.toLowerCase()),
  };
}

/** A bundled detector's name as it is, anything else as an absolute manifest path (against `cwd`). */
export function detectorChoice(value: string, cwd: string): string {
  return (DETECTORS as readonly string[]).includes(value) || isAbsolute(value) ? value : resolve(cwd, value);
}

/** Which backend serves each concern; it follows from which URLs are set. */
export function runtimeMode(config: Config): RuntimeMode {
  return {
    metadata: config.databaseUrl ? 'postgres' : 'pglite',
    vectors: config.qdrantUrl ? 'qdrant' : 'embedded',
    queue: config.redisUrl ? 'bullmq' : 'inprocess',
  };
}

/** The config with credentials masked, for the start-up log line. */
export function redactConfig(config: Config): Record<string, unknown> {
  const maskUrl = (url: string | undefined) => {
    if (url === undefined) return undefined;
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  };
  const mask = (secret: string | undefined) => (secret === undefined ? undefined : '***');
  return {
    ...config,
    databaseUrl: maskUrl(config.databaseUrl),
    redisUrl: maskUrl(config.redisUrl),
    qdrantUrl: maskUrl(config.qdrantUrl),
    qdrantApiKey: mask(config.qdrantApiKey),
    apiToken: mask(config.apiToken),
  };
}
