/**
 * Checking a Redis server the way the queues will use it: through ioredis (which BullMQ brings),
 * with the URL's user and password, and TLS for a `rediss://` URL. The API's readiness check and
 * `fever doctor` both ask here. ioredis loads on first use: processes without Redis never load it.
 */
import type { Redis } from 'ioredis';

export interface RedisProbe {
  version: string | undefined;
  /** undefined when the server refuses CONFIG (managed services often do). */
  maxmemoryPolicy: string | undefined;
  /** Why CONFIG GET gave no answer, when it did not. */
  configError: string | undefined;
}

/** Why a probe failed; `code` is `AUTH` for refused credentials, else the socket's code when there is one. */
export class RedisProbeError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/** Connects (and authenticates) as the URL says, then runs `fn`; always disconnects. */
async function withRedis<T>(url: string, timeoutMs: number, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    // One attempt: a check reports what it finds, it does not wait for a server to come up.
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    enableReadyCheck: false,
    disableClientInfo: true,
    // RESP2 (AUTH, no HELLO): every Redis speaks it, so a server too old for BullMQ still says its version.
    protocol: 2,
  });
  // ioredis reports a failed connection as "Connection is closed"; the socket's error says why.
  let socketError: unknown;
  redis.on('error', (err) => {
    socketError ??= err;
  });
  try {
    try {
      await redis.connect();
    } catch (err) {
      throw probeError(socketError ?? err, timeoutMs);
    }
    return await fn(redis).catch((err: unknown) => {
      throw probeError(err, timeoutMs);
    });
  } finally {
    redis.disconnect();
  }
}

function probeError(err: unknown, timeoutMs: number): RedisProbeError {
  if (err instanceof RedisProbeError) return err;
  const e = err as Error & { code?: string };
  if (/^(WRONGPASS|NOAUTH|NOPERM)|invalid (username|password)/i.test(e.message)) {
    return new RedisProbeError(`authentication failed: ${e.message}`, 'AUTH');
  }
  if (/timed? ?out/i.test(e.message) || e.code === 'ETIMEDOUT') {
    return new RedisProbeError(`no answer within ${timeoutMs} ms`, 'ETIMEDOUT');
  }
  return new RedisProbeError(e.message, e.code);
}

/** PING: resolves when the server answers PONG; rejects with a RedisProbeError. */
export async function pingRedis(url: string, timeoutMs = 5000): Promise<void> {
  await withRedis(url, timeoutMs, async (redis) => {
    const pong = await redis.ping();
    if (pong !== 'PONG') throw new RedisProbeError(`PING answered '${pong}'`, 'PING');
  });
}

/** PING, then the server version and its eviction policy. */
export async function probeRedis(url: string, timeoutMs = 5000): Promise<RedisProbe> {
  return withRedis(url, timeoutMs, async (redis) => {
    const pong = await redis.ping();
    if (pong !== 'PONG') throw new RedisProbeError(`PING answered '${pong}'`, 'PING');
    const info = await redis.info('server');
    const version = /redis_version:([^\r\n]+)/.exec(info)?.[1];
    try {
      const policy = (await redis.config('GET', 'maxmemory-policy')) as unknown;
      const value = Array.isArray(policy) && typeof policy[1] === 'string' ? policy[1] : undefined;
      return { version, maxmemoryPolicy: value, configError: undefined };
    } catch (err) {
      // The server refused the command (managed services often do); anything else is a failure.
      if ((err as Error).name !== 'ReplyError') throw err;
      return { version, maxmemoryPolicy: undefined, configError: (err as Error).message };
    }
  });
}
