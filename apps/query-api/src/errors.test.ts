import { InputError } from '@fever/errors';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { AppEnv } from './context.ts';
import { onError } from './errors.ts';

// The error mapper on its own: what each kind of failure becomes on the wire.
function appThrowing(err: unknown) {
  const app = new Hono<AppEnv>();
  app.get('/', () => {
    throw err;
  });
  app.onError(onError);
  return app;
}

describe('onError', () => {
  it('answers 503 with Retry-After when a dependency went away, 500 for a bug', async () => {
    // What postgres.js throws when the server is restarting, and what a refused socket looks like.
    const shutdown = Object.assign(new Error('terminating connection due to administrator command'), {
      code: '57P01',
    });
    const refused = new Error('query failed', {
      cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
    });
    for (const err of [shutdown, refused]) {
      const res = await appThrowing(err).request('/');
      expect(res.status).toBe(503);
      expect(res.headers.get('Retry-After')).toBe('5');
      expect((await res.json()).error.code).toBe('DEPENDENCY_UNAVAILABLE');
    }
    const bug = await appThrowing(new TypeError('x is undefined')).request('/');
    expect(bug.status).toBe(500);
    expect((await bug.json()).error.code).toBe('INTERNAL_ERROR');
    const bad = await appThrowing(new InputError('K_INVALID', 'k must be ≥ 1')).request('/');
    expect(bad.status).toBe(400);
    expect(bad.headers.get('Retry-After')).toBeNull();
  });
});
