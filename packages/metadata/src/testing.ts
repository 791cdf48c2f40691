/**
 * Test support (imported as `@fever/metadata/testing`, never by production code): finds the test
 * Postgres and gives each test run its own throw-away database, so parallel runs never collide.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';

/** Tried in order unless FEVER_TEST_DATABASE_URL names one (CI images use either superuser). */
const DEFAULT_TEST_URLS = ['postgres://postgres@127.0.0.1:5432/test', 'postgres://root@127.0.0.1:5432/test'];

export type TestPostgres = { url: string } | { url: undefined; reason: string };

/** The first test server that answers, or why none did. */
export async function findTestPostgres(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<TestPostgres> {
  const candidates = env.FEVER_TEST_DATABASE_URL ? [env.FEVER_TEST_DATABASE_URL] : DEFAULT_TEST_URLS;
  const failures: string[] = [];
  for (const url of candidates) {
    const client = postgres(url, { max: 1, connect_timeout: 3, onnotice: () => {} });
    try {
      await client`SELECT 1`;
      return { url };
    } catch (err) {
      failures.push(`${redact(url)}: ${(err as Error).message}`);
    } finally {
      await client.end({ timeout: 1 }).catch(() => {});
    }
  }
  return { url: undefined, reason: failures.join('; ') };
}

export interface TestDatabase {
  /** URL of the new, empty database. */
  url: string;
  /** Drops it, closing any connection still open to it. */
  drop(): Promise<void>;
}

/** Creates `fever_test_<random>` on the server of `adminUrl`. */
export async function createTestDatabase(adminUrl: string): Promise<TestDatabase> {
  const name = `fever_test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        // WITH (FORCE) (Postgres 13+): a connection leaked by a failed test must not keep it alive.
        await client.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end({ timeout: 5 });
      }
    },
  };
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}
