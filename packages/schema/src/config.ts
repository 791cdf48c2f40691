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

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

function urlVar(protocols: readonly string[]) {
  const expected = protocols.map((p) => `${p}//`).join(' or ');
  return z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a ${expected} URL` },
  );
}

function intVar(min: number, max: number) {
  return z
    .string()
    .regex(/^\d+$/, { message: 'must be a whole number' })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, { message: `must be at least ${min}` })
        .max(max, { message: `must be at most ${max}` }),
    );
}

function enumVar<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { message: `must be one of ${values.join('|')}` });
}

export const envSchema = z.object({
  /** Postgres for metadata; unset → embedded PGlite under FEVER_DATA_DIR. */
  DATABASE_URL: urlVar(['postgres:', 'postgresql:']).optional(),
  /** Where the embedded mode keeps its files (PGlite cluster, vector index). Relative to the cwd. */
  FEVER_DATA_DIR: z.string().default('.fever'),
  /** Redis for the BullMQ queue; unset → jobs run in-process. */
  REDIS_URL: urlVar(['redis:', 'rediss:']).optional(),
  /** Qdrant for vectors; unset → embedded on-disk index. */
  QDRANT_URL: urlVar(['http:', 'https:']).optional(),
  QDRANT_API_KEY: z.string().optional(),
  FEVER_DEVICE: enumVar(DEVICES).default('auto'),
  /** Intra-op threads for ONNX Runtime; unset → the runtime's default. */
  FEVER_THREADS: intVar(1, 1024).optional(),
  /** Path to a model manifest (JSON); unset → the bundled face-api expression model. */
  FEVER_MODEL: z.string().optional(),
  /** Images with more pixels are rejected before decoding (decompression bombs). */
  FEVER_MAX_PIXELS: intVar(1, 1_000_000_000).default(50_000_000),
  /** Bearer token required by the API; unset → no auth (bind to localhost only). */
  FEVER_API_TOKEN: z.string().optional(),
  FEVER_LOG_LEVEL: enumVar(LOG_LEVELS).default('info'),
  FEVER_HOST: z.string().default('127.0.0.1'),
  FEVER_PORT: intVar(0, 65535).default(8080),
  /** Points per vector-store upsert request. */
  FEVER_UPSERT_BATCH_SIZE: intVar(1, 10_000).default(128),
});

export type EnvVar = keyof z.infer<typeof envSchema>;

/** Values that may carry credentials: never echoed in errors, masked by redactConfig(). */
const SECRET_VARS: ReadonlySet<string> = new Set([
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
  maxPixels: number;
  apiToken: string | undefined;
  logLevel: LogLevel;
  host: string;
  port: number;
  upsertBatchSize: number;
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
    maxPixels: e.FEVER_MAX_PIXELS,
    apiToken: e.FEVER_API_TOKEN,
    logLevel: e.FEVER_LOG_LEVEL,
    host: e.FEVER_HOST,
    port: e.FEVER_PORT,
    upsertBatchSize: e.FEVER_UPSERT_BATCH_SIZE,
  };
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
