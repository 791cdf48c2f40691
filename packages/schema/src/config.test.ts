import { ConfigError } from '@fever/errors';
import { describe, expect, it } from 'vitest';
import { parseConfig, redactConfig, runtimeMode } from './config.ts';

const cwd = '/srv/fever';

function configError(env: Record<string, string>): ConfigError {
  try {
    parseConfig(env, { cwd });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('CONFIG_INVALID');
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('defaults to the embedded mode under ./.fever', () => {
    const config = parseConfig({}, { cwd });
    expect(config).toEqual({
      databaseUrl: undefined,
      dataDir: '/srv/fever/.fever',
      redisUrl: undefined,
      qdrantUrl: undefined,
      qdrantApiKey: undefined,
      device: 'auto',
      threads: undefined,
      modelManifest: undefined,
      detector: undefined,
      maxPixels: 50_000_000,
      apiToken: undefined,
      logLevel: 'info',
      logFormat: 'auto',
      host: '127.0.0.1',
      port: 8080,
      upsertBatchSize: 128,
      vectorEfSearch: 64,
      vectorDtype: 'i8',
      corsOrigins: [],
      maxUploadBytes: 16 * 1024 * 1024,
      indexRoots: [],
      allowedHosts: [],
    });
    expect(runtimeMode(config)).toEqual({ metadata: 'pglite', vectors: 'embedded', queue: 'inprocess' });
  });

  it('reads the scaled mode from the URLs', () => {
    const config = parseConfig(
      {
        DATABASE_URL: 'postgres://fever:pw@db:5432/fever',
        REDIS_URL: 'redis://redis:6379',
        QDRANT_URL: 'http://qdrant:6333',
        QDRANT_API_KEY: 'k',
        FEVER_DEVICE: 'cuda',
        FEVER_THREADS: '8',
        FEVER_MODEL: 'models/mine.json',
        FEVER_DETECTOR: 'ssd',
        FEVER_DATA_DIR: '/var/lib/fever',
        FEVER_PORT: '0',
        FEVER_VECTOR_EF_SEARCH: '256',
        FEVER_LOG_FORMAT: 'json',
      },
      { cwd },
    );
    expect(config).toMatchObject({
      logFormat: 'json',
      device: 'cuda',
      threads: 8,
      modelManifest: '/srv/fever/models/mine.json',
      detector: 'ssd',
      dataDir: '/var/lib/fever',
      port: 0,
      vectorEfSearch: 256,
    });
    expect(runtimeMode(config)).toEqual({ metadata: 'postgres', vectors: 'qdrant', queue: 'bullmq' });
  });

  it('takes FEVER_DETECTOR as a bundled name or a manifest path', () => {
    expect(parseConfig({ FEVER_DETECTOR: 'tiny-608' }, { cwd }).detector).toBe('tiny-608');
    expect(parseConfig({ FEVER_DETECTOR: 'detectors/mine.json' }, { cwd }).detector).toBe(
      '/srv/fever/detectors/mine.json',
    );
  });

  it('treats empty variables as unset', () => {
    expect(parseConfig({ DATABASE_URL: '', FEVER_DEVICE: ' ' }, { cwd })).toMatchObject({
      databaseUrl: undefined,
      device: 'auto',
    });
  });

  it('names every bad variable and what it expects', () => {
    const err = configError({
      FEVER_DEVICE: 'gpu',
      FEVER_THREADS: 'many',
      FEVER_PORT: '70000',
      FEVER_VECTOR_EF_SEARCH: '0',
      FEVER_VECTOR_DTYPE: 'f64',
    });
    expect(err.message).toContain("FEVER_DEVICE must be one of auto|cpu|cuda (got 'gpu')");
    expect(err.message).toContain("FEVER_VECTOR_DTYPE must be one of f32|f16|i8 (got 'f64')");
    expect(err.message).toContain("FEVER_THREADS must be a whole number (got 'many')");
    expect(err.message).toContain("FEVER_PORT must be at most 65535 (got '70000')");
    expect(err.message).toContain("FEVER_VECTOR_EF_SEARCH must be at least 1 (got '0')");
  });

  it('reads the API settings: CORS origins, upload limit, index roots', () => {
    const config = parseConfig(
      {
        FEVER_CORS_ORIGINS: 'https://a.example, http://localhost:5173',
        FEVER_MAX_UPLOAD_BYTES: '1048576',
        FEVER_INDEX_ROOTS: '/photos:archive',
      },
      { cwd },
    );
    expect(config.corsOrigins).toEqual(['https://a.example', 'http://localhost:5173']);
    expect(config.maxUploadBytes).toBe(1048576);
    expect(config.indexRoots).toEqual(['/photos', '/srv/fever/archive']);
    expect(parseConfig({ FEVER_CORS_ORIGINS: '*' }, { cwd }).corsOrigins).toEqual(['*']);
    expect(configError({ FEVER_CORS_ORIGINS: 'example.org/path' }).message).toContain(
      "FEVER_CORS_ORIGINS must be '*' or comma-separated origins",
    );
  });

  it("reads the worker's metrics port: unset → none, 0 → any free port", () => {
    expect(parseConfig({}, { cwd }).workerMetricsPort).toBeUndefined();
    expect(parseConfig({ FEVER_WORKER_METRICS_PORT: '9464' }, { cwd }).workerMetricsPort).toBe(9464);
    expect(parseConfig({ FEVER_WORKER_METRICS_PORT: '0' }, { cwd }).workerMetricsPort).toBe(0);
    expect(configError({ FEVER_WORKER_METRICS_PORT: '65536' }).message).toContain(
      "FEVER_WORKER_METRICS_PORT must be at most 65535 (got '65536')",
    );
  });

  it('never echoes a credential in the error', () => {
    const err = configError({ DATABASE_URL: 'mysql://u:hunter2@h/db' });
    expect(err.message).toContain('DATABASE_URL must be a postgres:// or postgresql:// URL');
    expect(err.message).not.toContain('hunter2');
  });

  it('refuses an API key for a Qdrant that is not configured', () => {
    expect(configError({ QDRANT_API_KEY: 'k' }).message).toContain(
      'QDRANT_API_KEY is set but QDRANT_URL is not',
    );
  });

  it('masks credentials for the start-up log', () => {
    const config = parseConfig(
      {
        DATABASE_URL: 'postgres://fever:pw@db/fever',
        FEVER_API_TOKEN: 'tok',
        QDRANT_URL: 'https://q',
        QDRANT_API_KEY: 'k',
      },
      { cwd },
    );
    const shown = JSON.stringify(redactConfig(config));
    expect(shown).toContain('postgres://fever:***@db/fever');
    expect(shown).not.toMatch(/"pw"|:pw@|"tok"|"k"/);
  });
});
