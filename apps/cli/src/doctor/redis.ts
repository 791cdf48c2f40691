/**
 * Just enough of the Redis protocol (RESP2) for `fever doctor`: connect (TLS for rediss://),
 * AUTH from the URL, then a few commands, one at a time. The doctor must be able to tell a user
 * what is wrong with Redis without depending on the queue library the workers use.
 */
import net from 'node:net';
import tls from 'node:tls';

export type RespValue = string | number | null | RespError | RespValue[];

export class RespError {
  constructor(readonly message: string) {}
}

export class RedisProbeError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/** Parses one reply at `offset`; undefined when the buffer does not hold all of it yet. */
export function parseReply(buf: Buffer, offset = 0): { value: RespValue; next: number } | undefined {
  const lineEnd = buf.indexOf('\r\n', offset);
  if (lineEnd === -1) return undefined;
  const type = String.fromCharCode(buf[offset]!);
  const line = buf.toString('utf8', offset + 1, lineEnd);
  const next = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: line, next };
    case '-':
      return { value: new RespError(line), next };
    case ':':
      return { value: Number(line), next };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, next };
      if (buf.length < next + length + 2) return undefined;
      return { value: buf.toString('utf8', next, next + length), next: next + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, next };
      const items: RespValue[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, at);
        if (!item) return undefined;
        items.push(item.value);
        at = item.next;
      }
      return { value: items, next: at };
    }
    default:
      throw new RedisProbeError(`not a Redis server (unexpected reply byte '${type}')`, 'PROTOCOL');
  }
}

function encode(args: readonly string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

export interface RedisConnection {
  command(...args: string[]): Promise<RespValue>;
  close(): void;
}

/** Connects and authenticates as the URL says; rejects with a RedisProbeError. */
export async function connectRedis(url: string, timeoutMs = 5000): Promise<RedisConnection> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = Number(u.port || 6379);
  const socket =
    u.protocol === 'rediss:'
      ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host })
      : net.connect({ host, port });
  socket.setTimeout(timeoutMs);

  let buffer = Buffer.alloc(0);
  const waiting: { resolve: (v: RespValue) => void; reject: (e: Error) => void }[] = [];
  let failure: Error | undefined;
  const fail = (err: Error) => {
    failure ??= err;
    for (const w of waiting.splice(0)) w.reject(failure);
    socket.destroy();
  };
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    try {
      for (let reply = parseReply(buffer); reply; reply = parseReply(buffer)) {
        buffer = buffer.subarray(reply.next);
        waiting.shift()?.resolve(reply.value);
      }
    } catch (err) {
      fail(err as Error);
    }
  });
  socket.on('error', (err: NodeJS.ErrnoException) =>
    fail(new RedisProbeError(`${err.message}`, err.code ?? undefined)),
  );
  socket.on('timeout', () => fail(new RedisProbeError(`no answer within ${timeoutMs} ms`, 'ETIMEDOUT')));
  socket.on('close', () => fail(new RedisProbeError('the server closed the connection', 'ECONNRESET')));

  await new Promise<void>((resolve, reject) => {
    socket.once(u.protocol === 'rediss:' ? 'secureConnect' : 'connect', () => resolve());
    socket.once('error', reject);
    socket.once('timeout', () =>
      reject(new RedisProbeError(`no answer within ${timeoutMs} ms`, 'ETIMEDOUT')),
    );
  }).catch((err: NodeJS.ErrnoException) => {
    socket.destroy();
    throw err instanceof RedisProbeError ? err : new RedisProbeError(err.message, err.code);
  });

  const connection: RedisConnection = {
    command(...args) {
      if (failure) return Promise.reject(failure);
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        socket.write(encode(args));
      });
    },
    close() {
      socket.removeAllListeners('close');
      socket.destroy();
    },
  };

  const password = decodeURIComponent(u.password);
  const username = decodeURIComponent(u.username);
  if (password) {
    const reply = await connection.command(
      ...(username && username !== 'default' ? ['AUTH', username, password] : ['AUTH', password]),
    );
    if (reply instanceof RespError) {
      connection.close();
      throw new RedisProbeError(`authentication failed: ${reply.message}`, 'AUTH');
    }
  }
  return connection;
}

export interface RedisProbe {
  version: string | undefined;
  /** undefined when the server refuses CONFIG (managed services often do). */
  maxmemoryPolicy: string | undefined;
  /** Why CONFIG GET gave no answer, when it did not. */
  configError: string | undefined;
}

/** PING, then the server version and its eviction policy. */
export async function probeRedis(url: string, timeoutMs = 5000): Promise<RedisProbe> {
  const redis = await connectRedis(url, timeoutMs);
  try {
    const pong = await redis.command('PING');
    if (pong instanceof RespError) throw new RedisProbeError(`PING failed: ${pong.message}`, 'PING');
    if (pong !== 'PONG') throw new RedisProbeError(`PING answered '${String(pong)}'`, 'PING');
    const info = await redis.command('INFO', 'server');
    const version = typeof info === 'string' ? /redis_version:([^\r\n]+)/.exec(info)?.[1] : undefined;
    const policy = await redis.command('CONFIG', 'GET', 'maxmemory-policy');
    if (policy instanceof RespError) {
      return { version, maxmemoryPolicy: undefined, configError: policy.message };
    }
    const value = Array.isArray(policy) && typeof policy[1] === 'string' ? policy[1] : undefined;
    return { version, maxmemoryPolicy: value, configError: undefined };
  } finally {
    redis.close();
  }
}
