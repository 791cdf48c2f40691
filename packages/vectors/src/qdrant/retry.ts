import { ConfigError, FeverError, InputError, NotFoundError, TransientError } from '@fever/errors';
import { QdrantClientResourceExhaustedError, QdrantClientTimeoutError } from '@qdrant/js-client-rest';

/**
 * The Qdrant JS client does not retry. Requests here are idempotent (deterministic point ids,
 * alias swaps stated as final state), so transient failures are retried with exponential
 * backoff and full jitter: timeouts, 429 (honouring Retry-After), 5xx and connection errors.
 * Anything else is mapped to a typed fever error at once.
 */

export interface RetryOptions {
  /** Total tries, first one included. Default 5. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  /** No try starts after this many ms from the first (a caller is waiting). Default: none. */
  deadlineMs?: number;
  now?: () => number;
}

export const DEFAULT_RETRY: RetryOptions = {
  attempts: 5,
  baseDelayMs: 200,
  maxDelayMs: 5_000,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
};

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND', // a container name not resolvable yet while the stack starts
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

export type Verdict = { retry: true; afterMs?: number } | { retry: false };

export function classify(err: unknown): Verdict {
  if (err instanceof QdrantClientTimeoutError) return { retry: true };
  if (err instanceof QdrantClientResourceExhaustedError)
    return { retry: true, afterMs: err.retry_after * 1000 };
  const status = statusOf(err);
  if (status !== undefined) {
    if (status === 429) return { retry: true, afterMs: retryAfterMs(err) };
    return status >= 500 ? { retry: true } : { retry: false };
  }
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return { retry: true };
  }
  // undici reports most socket failures as TypeError('fetch failed') around the real cause.
  if (err instanceof TypeError && err.message === 'fetch failed') return { retry: true };
  return { retry: false };
}

export async function withRetry<T>(what: string, fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  const now = options.now ?? Date.now;
  const start = now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const verdict = classify(err);
      if (!verdict.retry) throw toFeverError(what, err);
      const cap = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1));
      const delay = Math.max(verdict.afterMs ?? 0, options.random() * cap);
      const late = options.deadlineMs !== undefined && now() + delay - start >= options.deadlineMs;
      if (attempt >= options.attempts || late) {
        const tried = `after ${attempt} ${attempt === 1 ? 'try' : 'tries'}${late ? ` in ${now() - start} ms` : ''}`;
        throw new TransientError('VECTORS_UNAVAILABLE', `Qdrant ${what} failed ${tried}: ${describe(err)}`, {
          cause: err,
        });
      }
      await options.sleep(delay);
    }
  }
}

/** A non-retryable Qdrant answer as a fever error with a stable code. */
export function toFeverError(what: string, err: unknown): FeverError {
  if (err instanceof FeverError) return err;
  const status = statusOf(err);
  const message = `Qdrant ${what}: ${describe(err)}`;
  if (status === 404) return new NotFoundError('VECTORS_COLLECTION_NOT_FOUND', message, { cause: err });
  if (status === 401 || status === 403) {
    return new ConfigError('VECTORS_AUTH', `${message} (check QDRANT_API_KEY)`, { cause: err });
  }
  if (status === 400 || status === 409 || status === 422) {
    const code = /dimension/i.test(message) ? 'VECTORS_DIMS_MISMATCH' : 'VECTORS_REJECTED';
    return new InputError(code, message, { status: status === 409 ? 409 : 400, cause: err });
  }
  return new FeverError('VECTORS_QDRANT_ERROR', message, { status: 502, cause: err });
}

/** HTTP status of a failed request (the client throws ApiError with `status` and `data`). */
export function statusOf(err: unknown): number | undefined {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : undefined;
}

function retryAfterMs(err: unknown): number | undefined {
  const headers = (err as { headers?: { get?: (name: string) => string | null } }).headers;
  const value = Number(headers?.get?.('retry-after'));
  return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
}

function describe(err: unknown): string {
  const data = (err as { data?: { status?: { error?: unknown } } } | null)?.data;
  const serverMessage = data?.status?.error;
  const status = statusOf(err);
  if (typeof serverMessage === 'string') return `${status ?? ''} ${serverMessage}`.trim();
  const e = err as Error;
  const cause = (e?.cause as { code?: string; message?: string } | undefined) ?? undefined;
  const base = e?.message ?? String(err);
  return cause ? `${base} (${cause.code ?? cause.message})` : status ? `${status} ${base}` : base;
}
