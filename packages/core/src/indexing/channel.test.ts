import { InputError, TransientError } from '@fever/errors';
import { describe, expect, it } from 'vitest';
import { Channel } from './channel.ts';
import { describeError, isTransient, withRetry } from './retry.ts';

describe('Channel', () => {
  it('makes producers wait while it is full (back-pressure)', async () => {
    const ch = new Channel<number>(2);
    await ch.push(1);
    await ch.push(2);
    let third = false;
    const pushing = ch.push(3).then(() => {
      third = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(third).toBe(false);
    expect(ch.size).toBe(2);
    expect((await ch.next()).value).toBe(1);
    await pushing;
    expect(third).toBe(true);
  });

  it('lets consumers drain what is queued after close, then ends their loops', async () => {
    const ch = new Channel<number>(4);
    await ch.push(1);
    await ch.push(2);
    ch.close();
    const seen: number[] = [];
    for await (const n of ch) seen.push(n);
    expect(seen).toEqual([1, 2]);
    await expect(ch.push(3)).rejects.toThrow('channel closed');
  });

  it('hands items to waiting consumers in order', async () => {
    const ch = new Channel<number>(1);
    const consumed: number[] = [];
    const consumer = (async () => {
      for await (const n of ch) consumed.push(n);
    })();
    for (let i = 0; i < 50; i++) await ch.push(i);
    ch.close();
    await consumer;
    expect(consumed).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});

describe('retry', () => {
  it('tells dependency outages from errors a retry cannot fix', () => {
    const terminated = Object.assign(new Error('terminating connection due to administrator command'), {
      code: '57P01',
    });
    expect(isTransient(terminated)).toBe(true);
    expect(
      isTransient(new Error('wrapped', { cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }) })),
    ).toBe(true);
    expect(isTransient(new TransientError('VECTORS_UNAVAILABLE', 'down'))).toBe(true);
    expect(isTransient(new InputError('IMAGE_EMPTY', 'empty'))).toBe(false);
    expect(isTransient(new Error('a bug'))).toBe(false);
    expect(describeError(new InputError('IMAGE_EMPTY', 'empty'))).toEqual({
      code: 'IMAGE_EMPTY',
      message: 'empty',
    });
    expect(describeError(terminated).code).toBe('DEPENDENCY_UNAVAILABLE');
  });

  it('retries transient errors with backoff and gives up on the others at once', async () => {
    let calls = 0;
    const value = await withRetry(
      async () => {
        calls++;
        if (calls < 3) throw Object.assign(new Error('reset'), { code: 'ECONNRESET' });
        return 'ok';
      },
      { baseMs: 1 },
    );
    expect(value).toBe('ok');
    expect(calls).toBe(3);

    let permanent = 0;
    await expect(
      withRetry(
        async () => {
          permanent++;
          throw new InputError('BAD', 'bad');
        },
        { baseMs: 1 },
      ),
    ).rejects.toThrow('bad');
    expect(permanent).toBe(1);

    let exhausted = 0;
    await expect(
      withRetry(
        async () => {
          exhausted++;
          throw new TransientError('DOWN', 'down');
        },
        { baseMs: 1, attempts: 4 },
      ),
    ).rejects.toThrow('down');
    expect(exhausted).toBe(4);
  });
});
