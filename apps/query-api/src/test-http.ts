/** Assertions on API answers that the test files share. */
import type { ErrorResponse } from '@fever/schema';
import { expect } from 'vitest';
import type { FeverApp } from './app.ts';

export async function json<T>(res: Response): Promise<T> {
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  return (await res.json()) as T;
}

/** Asserts the one error shape and returns it. */
export async function expectError(
  res: Response,
  status: number,
  code: string,
): Promise<ErrorResponse['error']> {
  const body = await json<ErrorResponse>(res);
  expect({ status: res.status, code: body.error.code }).toEqual({ status, code });
  expect(body.error.message.length).toBeGreaterThan(5);
  return body.error;
}

/** A JSON POST through app.request. */
export function postJson(app: FeverApp, path: string, body: unknown) {
  return app.request(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** GETs `path` until the run it answers has left `queued`/`running` (or 2 minutes pass). */
export async function untilFinished<T extends { status: string }>(app: FeverApp, path: string): Promise<T> {
  for (let i = 0; ; i++) {
    const run = await json<T>(await app.request(path));
    if (!['queued', 'running'].includes(run.status) || i >= 1200) return run;
    await new Promise((r) => setTimeout(r, 100));
  }
}
