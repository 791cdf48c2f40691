import { FeverError } from '@fever/errors';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './context.ts';

/** Names a local API always answers to. */
const LOCAL_HOSTS = ['localhost', '127.0.0.1', '::1'];

/** The host names a server bound to `bindHost` answers to: local names, the bind address, `extra`. */
export function allowedHostNames(bindHost: string, extra: readonly string[]): string[] {
  return [...new Set([...LOCAL_HOSTS, bindHost, ...extra].map(normalize))];
}

/**
 * Refuses a request whose Host header names no allowed host (421 HOST_NOT_ALLOWED), unless
 * `isExempt(path)`. A page on another site can make a browser resolve its own name to 127.0.0.1
 * (DNS rebinding) and then read a local API as same-origin; its requests still carry its name.
 */
export function hostCheck(
  allowed: readonly string[],
  isExempt: (path: string) => boolean,
): MiddlewareHandler<AppEnv> {
  const names = new Set(allowed.map(normalize));
  return async (c, next) => {
    if (names.has('*') || isExempt(c.req.path)) return next();
    const host = hostName(c.req.header('host') ?? new URL(c.req.url).host);
    if (!names.has(host)) {
      throw new FeverError(
        'HOST_NOT_ALLOWED',
        `this server does not answer to the host name '${host.slice(0, 100)}'; add it to FEVER_ALLOWED_HOSTS if clients reach it by that name`,
        { status: 421 },
      );
    }
    return next();
  };
}

/** `Example.org:8080` → `example.org`, `[::1]:8080` → `::1`. */
function hostName(header: string): string {
  const value = header.trim();
  const name = value.startsWith('[') ? value.slice(1, value.indexOf(']')) : value.replace(/:\d*$/, '');
  return normalize(name);
}

function normalize(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}
