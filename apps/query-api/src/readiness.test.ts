/**
 * /readyz reaches Redis the way the queues do (ioredis): a `rediss://` URL is checked over TLS, so
 * a plain Redis behind one is not "ready" (a check that ignored the scheme would say it was).
 */
import type { ReadyResponse } from '@fever/schema';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createApp } from './app.ts';
import { type Fixture, openFixture } from './testing.ts';

const REDIS = process.env.FEVER_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

async function queueCheck(redisUrl: string) {
  fx = await openFixture({ template: inject('fixtureTemplate'), env: { REDIS_URL: redisUrl } });
  const res = await createApp(fx.runtime).request('/readyz');
  const check = ((await res.json()) as ReadyResponse).checks.queue;
  expect(check).toBeDefined();
  return check!;
}

describe('the readiness check of the queue', () => {
  it('reaches the test Redis on its redis:// URL', async () => {
    expect(await queueCheck(REDIS)).toMatchObject({ ok: true, detail: 'redis' });
  });

  it('speaks TLS to a rediss:// URL: a plain Redis there is not ready', async () => {
    const check = await queueCheck(REDIS.replace(/^redis:/, 'rediss:'));
    expect(check.ok).toBe(false);
    expect(check.detail).toMatch(/TLS|SSL|socket|closed|no answer/i);
  });
});
