import { timingSafeEqual } from 'node:crypto';
import { FeverError } from '@fever/errors';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './context.ts';

/**
 * Requires `Authorization: Bearer <token>` unless `isPublic(path)`. The comparison takes the
 * same time whatever the token, so the token cannot be guessed a byte at a time.
 */
export function bearerAuth(token: string, isPublic: (path: string) => boolean): MiddlewareHandler<AppEnv> {
  const expected = Buffer.from(token, 'utf8');
  return async (c, next) => {
    if (c.req.method === 'OPTIONS' || isPublic(c.req.path)) return next();
    const header = c.req.header('authorization');
    if (!header) {
      throw new FeverError('UNAUTHORIZED', 'this server requires a bearer token (Authorization: Bearer …)', {
        status: 401,
      });
    }
    const match = /^Bearer\s+(.+)$/i.exec(header);
    const given = Buffer.from(match?.[1]?.trim() ?? '', 'utf8');
    const ok = given.length === expected.length && timingSafeEqual(given, expected);
    if (!ok) throw new FeverError('INVALID_TOKEN', 'the bearer token is not valid', { status: 401 });
    return next();
  };
}
