/** Assertions on API answers that the test files share. */
import type { ErrorResponse } from '@fever/schema';
import { expect } from 'vitest';

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
