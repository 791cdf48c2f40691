import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InputError, NotFoundError, TransientError } from '@fever/errors';
import { QdrantClientTimeoutError } from '@qdrant/js-client-rest';
import { afterEach, describe, expect, it } from 'vitest';
import { classify, DEFAULT_RETRY, type RetryOptions, withRetry } from './retry.ts';
import { QdrantVectorStore } from './store.ts';

function httpError(status: number, message = 'boom'): Error {
  return Object.assign(new Error(message), { status, data: { status: { error: message } } });
}

function recorder(): { options: RetryOptions; delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    options: { ...DEFAULT_RETRY, sleep: async (ms) => void delays.push(ms), random: () => 1 },
  };
}

describe('Qdrant retry policy', () => {
  it('retries timeouts, 429, 5xx and connection errors, and nothing else', () => {
    expect(classify(new QdrantClientTimeoutError('slow'))).toEqual({ retry: true });
    expect(classify(httpError(503)).retry).toBe(true);
    expect(classify(httpError(500)).retry).toBe(true);
    expect(classify(httpError(429)).retry).toBe(true);
    const refused = new TypeError('fetch failed', {
      cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }),
    });
    expect(classify(refused).retry).toBe(true);
    expect(classify(httpError(400)).retry).toBe(false);
    expect(classify(httpError(404)).retry).toBe(false);
    expect(classify(new Error('bug')).retry).toBe(false);
  });

  it('backs off exponentially with jitter, capped', async () => {
    const { options, delays } = recorder();
    let calls = 0;
    const result = await withRetry(
      'op',
      async () => {
        if (++calls < 5) throw httpError(503);
        return 'ok';
      },
      { ...options, attempts: 5, baseDelayMs: 100, maxDelayMs: 500 },
    );
    expect(result).toBe('ok');
    expect(delays).toEqual([100, 200, 400, 500]); // random() = 1 shows the caps
    const jittered: number[] = [];
    await withRetry(
      'op',
      async () => {
        if (jittered.length < 3) throw httpError(502);
        return 1;
      },
      { ...options, random: () => 0.5, sleep: async (ms) => void jittered.push(ms) },
    ).catch(() => undefined);
    expect(jittered).toEqual([100, 200, 400]);
  });

  it('gives up with a TransientError after the last try', async () => {
    const { options } = recorder();
    let calls = 0;
    const failing = withRetry(
      'upsert',
      async () => {
        calls++;
        throw httpError(503, 'overloaded');
      },
      { ...options, attempts: 3 },
    );
    await expect(failing).rejects.toBeInstanceOf(TransientError);
    await expect(failing).rejects.toMatchObject({ code: 'VECTORS_UNAVAILABLE' });
    expect(calls).toBe(3);
  });

  it('starts no try past the deadline, however many tries are left', async () => {
    let clock = 0;
    const delays: number[] = [];
    const options: RetryOptions = {
      ...DEFAULT_RETRY,
      attempts: 100,
      deadlineMs: 10_000,
      random: () => 1,
      now: () => clock,
      sleep: async (ms) => {
        delays.push(ms);
        clock += ms;
      },
    };
    let calls = 0;
    const err = await withRetry(
      'query',
      async () => {
        calls++;
        clock += 2_000; // each try times out after 2 s
        throw new QdrantClientTimeoutError('slow');
      },
      options,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    // Tries start at 0, 2.2, 4.6 and 7.4 s (2 s each, back-off 0.2, 0.4, 0.8 s); a fifth would
    // start at 9.4 + 1.6 = 11 s.
    expect((err as Error).message).toMatch(/^Qdrant query failed after 4 tries in 9400 ms/);
    expect(calls).toBe(4);
    expect(delays).toEqual([200, 400, 800]);
  });

  it('maps a non-retryable answer at once to a typed error', async () => {
    const { options } = recorder();
    await expect(withRetry('x', async () => Promise.reject(httpError(404)), options)).rejects.toBeInstanceOf(
      NotFoundError,
    );
    const bad = withRetry('x', async () => Promise.reject(httpError(400, 'Vector dimension error')), options);
    await expect(bad).rejects.toBeInstanceOf(InputError);
    await expect(bad).rejects.toMatchObject({ code: 'VECTORS_DIMS_MISMATCH' });
  });
});

/**
 * The real client against injected faults: a tiny HTTP server speaking the few Qdrant routes the
 * call needs answers 503, 429 and slow responses before a good one. (Not a Qdrant stand-in for
 * behaviour: the adapter's behaviour is tested against real Qdrant in store.test.ts.)
 */
describe('Qdrant adapter over a faulty network', () => {
  let server: Server | undefined;
  afterEach(async () => {
    if (!server) return;
    server.closeAllConnections(); // the client keeps sockets alive; do not wait for them
    await new Promise<void>((resolve) => server!.close(() => resolve()));
  });

  async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
    server = createServer(handler);
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
  }

  function ok(res: ServerResponse, result: unknown): void {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ result, status: 'ok', time: 0 }));
  }

  it('retries 503, 429 and timeouts until Qdrant answers', async () => {
    const faults = ['503', '429', 'hang'];
    let existsCalls = 0;
    const url = await serve((req, res) => {
      if (req.url?.startsWith('/aliases')) return ok(res, { aliases: [] });
      existsCalls++;
      const fault = faults.shift();
      if (fault === '503') {
        res.writeHead(503, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ status: { error: 'unavailable' } }));
      }
      if (fault === '429') {
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '0' });
        return res.end(JSON.stringify({ status: { error: 'rate limited' } }));
      }
      if (fault === 'hang') return setTimeout(() => ok(res, { exists: false }), 1_000);
      ok(res, { exists: false });
    });
    const store = new QdrantVectorStore({
      url,
      readTimeoutMs: 200,
      retry: { baseDelayMs: 1, maxDelayMs: 5 },
    });
    expect(await store.describeCollection('faces__m__1')).toBeUndefined();
    expect(existsCalls).toBe(4);
  });

  it('reports an unreachable Qdrant as a TransientError after the last try', async () => {
    const url = await serve(() => undefined);
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined; // the port is now closed: connection refused
    const store = new QdrantVectorStore({ url, retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 } });
    const err = await store.count('faces__m__1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect(err).toMatchObject({ code: 'VECTORS_UNAVAILABLE' });
    expect((err as Error).message).toMatch(/after 3 tries/);
  });
});
