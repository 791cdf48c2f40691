import { FeverError, InputError, TransientError } from '@fever/errors';

/** SQLSTATE classes and codes a retry can fix: lost connections, shutdowns, deadlocks. */
const TRANSIENT_SQLSTATES = new Set(['57P01', '57P02', '57P03', '40001', '40P01', '53300', '55P03']);
/** Socket and driver errors of a dependency that went away (Postgres, Redis, Qdrant). */
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'NR_CLOSED',
]);
const TRANSIENT_MESSAGES = [/connection is closed/i, /terminating connection/i, /connection terminated/i];

/**
 * True for an error that says "a dependency is down or busy now" (retry it), false for one that
 * says "this can never work" (record it or stop). Walks the cause chain, since drizzle and the
 * drivers wrap the underlying error.
 */
export function isTransient(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof TransientError) return true;
    if (e instanceof FeverError) return false;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (TRANSIENT_CODES.has(code) || TRANSIENT_SQLSTATES.has(code) || code.startsWith('08')) return true;
    }
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && TRANSIENT_MESSAGES.some((re) => re.test(message))) return true;
  }
  return false;
}

/** A stable code and message for any error, for run status and the ledger. */
export function describeError(err: unknown): { code: string; message: string } {
  if (err instanceof FeverError) return { code: err.code, message: err.message };
  for (let e: unknown = err, depth = 0; e && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z0-9_]+$/.test(code)) {
      return { code: isTransient(err) ? 'DEPENDENCY_UNAVAILABLE' : `ERROR_${code}`, message: messageOf(err) };
    }
  }
  return { code: isTransient(err) ? 'DEPENDENCY_UNAVAILABLE' : 'INTERNAL_ERROR', message: messageOf(err) };
}

function messageOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause =
    err.cause instanceof Error && err.cause.message !== err.message ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}

/** Input that can never succeed, however often it is retried (InputError and its kin). */
export function isPermanent(err: unknown): boolean {
  return err instanceof InputError || (err instanceof FeverError && !(err instanceof TransientError));
}

export interface RetryOptions {
  /** Tries in all (default 6). */
  attempts?: number;
  /** First delay (default 250 ms); doubles each time, with ±25% jitter. */
  baseMs?: number;
  /** Longest delay (default 10 s). */
  maxMs?: number;
  signal?: AbortSignal;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/** Runs fn, retrying transient errors with exponential backoff; other errors pass through at once. */
export async function withRetry<T>(fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 6;
  const base = options.baseMs ?? 250;
  const max = options.maxMs ?? 10_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= attempts || !isTransient(err) || options.signal?.aborted) throw err;
      const delay = Math.min(max, base * 2 ** (attempt - 1)) * (0.75 + Math.random() * 0.5);
      options.onRetry?.(err, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
