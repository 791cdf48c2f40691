import { isTransient } from '@fever/core';
import { FeverError, InputError } from '@fever/errors';
import type { ErrorResponse } from '@fever/schema';
import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ZodError, type z } from 'zod';
import type { AppEnv } from './context.ts';

/** Codes for the statuses Hono's own HTTPExceptions carry. */
const HTTP_CODES: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  408: 'REQUEST_TIMEOUT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'TOO_MANY_REQUESTS',
};

export function errorBody(code: string, message: string): ErrorResponse {
  return { error: { code, message } };
}

/** "k: Too small: expected number to be >=1; collection.0: must be …", fields named as sent. */
export function describeZodError(err: ZodError, where: string): string {
  return err.issues
    .map((issue) => {
      const field = issue.path.map(String).join('.');
      return field ? `${where} ${field}: ${issue.message}` : `${where}: ${issue.message}`;
    })
    .join('; ');
}

/** Parses with `schema`; a failure is a 400 that names each bad field (`INVALID_QUERY` etc.). */
export function parseWith<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: 'query parameter' | 'path parameter' | 'body',
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const code =
    where === 'body' ? 'INVALID_BODY' : where === 'query parameter' ? 'INVALID_QUERY' : 'INVALID_PATH';
  throw new InputError(code, describeZodError(parsed.error, where));
}

/**
 * The one error mapping: FeverError → its status and code; ZodError → 400; Hono's
 * HTTPException → its status; a dependency that went away (lost connection, server shutting
 * down) → 503 with Retry-After; anything else → 500 with the request id (details only in the log).
 */
export const onError: ErrorHandler<AppEnv> = (err, c) => {
  const log = c.get('log');
  let status: number;
  let body: ErrorResponse;
  if (err instanceof FeverError) {
    status = err.status;
    body = errorBody(err.code, err.message);
  } else if (err instanceof ZodError) {
    status = 400;
    body = errorBody('INVALID_REQUEST', describeZodError(err, 'request'));
  } else if (err instanceof HTTPException) {
    status = err.status;
    body = errorBody(HTTP_CODES[status] ?? `HTTP_${status}`, err.message || 'request refused');
  } else if (isTransient(err)) {
    // The database, vector store or queue is down or restarting: a retry will work, so say so.
    status = 503;
    body = errorBody(
      'DEPENDENCY_UNAVAILABLE',
      `a service fever depends on is unavailable; retry shortly (request id ${c.get('requestId')})`,
    );
  } else {
    status = 500;
    body = errorBody(
      'INTERNAL_ERROR',
      `internal error; quote request id ${c.get('requestId')} when reporting it`,
    );
  }
  if (status >= 500) log?.error({ err, code: body.error.code }, 'request failed');
  else log?.debug({ code: body.error.code, message: body.error.message }, 'request refused');
  const headers: Record<string, string> = {};
  if (status === 401) headers['WWW-Authenticate'] = 'Bearer realm="fever"';
  if (status === 503) headers['Retry-After'] = '5';
  return c.json(body, status as ContentfulStatusCode, headers);
};

/**
 * No route answered: 405 with `Allow` when the path is served under other methods (RFC 9110
 * §15.5.6; a client then knows the path exists), else 404. `routes` are Hono paths (`/faces/:id`).
 */
export function notFound(routes: readonly { method: string; path: string }[]): NotFoundHandler<AppEnv> {
  const patterns = routes.map((r) => ({
    method: r.method.toUpperCase(),
    regex: new RegExp(`^${r.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z_]+/g, '[^/]+')}$`),
  }));
  return (c: Context<AppEnv>) => {
    const allowed = new Set(patterns.filter((p) => p.regex.test(c.req.path)).map((p) => p.method));
    if (allowed.has('GET')) allowed.add('HEAD'); // Hono answers HEAD with the GET route
    if (allowed.size === 0 || allowed.has(c.req.method)) {
      return c.json(errorBody('ROUTE_NOT_FOUND', `no route ${c.req.method} ${c.req.path}`), 404);
    }
    const allow = [...allowed].sort().join(', ');
    return c.json(
      errorBody('METHOD_NOT_ALLOWED', `${c.req.path} does not answer ${c.req.method}; it answers ${allow}`),
      405,
      { Allow: allow },
    );
  };
}
