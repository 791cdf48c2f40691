import { describe, expect, it } from 'vitest';
import { RowCache } from './row-cache.ts';

/** A loader over a fixed table that records each call's keys. */
function table(rows: Record<string, number>) {
  const calls: string[][] = [];
  const load = async (keys: string[]): Promise<[string, number][]> => {
    calls.push([...keys]);
    return keys.filter((k) => k in rows).map((k) => [k, rows[k]!]);
  };
  return { calls, load };
}

describe('RowCache', () => {
  it('loads the misses of concurrent callers in one call, each key once', async () => {
    const { calls, load } = table({ a: 1, b: 2, c: 3, d: 4 });
    const cache = new RowCache(100, 60_000, load);
    const [first, second, third] = await Promise.all([
      cache.getMany(['a', 'b']),
      cache.getMany(['b', 'c']),
      cache.getMany(['d', 'missing']),
    ]);
    expect(calls).toEqual([['a', 'b', 'c', 'd', 'missing']]);
    expect(first).toEqual(
      new Map([
        ['a', 1],
        ['b', 2],
      ]),
    );
    expect(second).toEqual(
      new Map([
        ['b', 2],
        ['c', 3],
      ]),
    );
    expect(third).toEqual(new Map([['d', 4]]));
  });

  it('serves cached rows without loading, and waits for a key already being loaded', async () => {
    const { calls, load } = table({ a: 1, b: 2 });
    const cache = new RowCache(100, 60_000, load);
    await cache.getMany(['a']);
    const pending = cache.getMany(['b']);
    // Asked for while the first load of b is still out: no second load.
    await new Promise((resolve) => setImmediate(resolve));
    const again = cache.getMany(['a', 'b']);
    expect(await pending).toEqual(new Map([['b', 2]]));
    expect(await again).toEqual(
      new Map([
        ['a', 1],
        ['b', 2],
      ]),
    );
    expect(calls).toEqual([['a'], ['b']]);
  });

  it('keeps nothing with a TTL of 0, and evicts the least recently used beyond its size', async () => {
    const uncached = table({ a: 1 });
    const none = new RowCache(100, 0, uncached.load);
    await none.getMany(['a']);
    await none.getMany(['a']);
    expect(uncached.calls).toEqual([['a'], ['a']]);

    const { calls, load } = table({ a: 1, b: 2, c: 3 });
    const small = new RowCache(2, 60_000, load);
    await small.getMany(['a', 'b']);
    await small.getMany(['a']); // a is now the most recently used
    await small.getMany(['c']); // evicts b
    await small.getMany(['a', 'b', 'c']);
    expect(calls).toEqual([['a', 'b'], ['c'], ['b']]);
  });

  it('hands out but does not keep rows whose load began before clear()', async () => {
    const { calls, load } = table({ a: 1 });
    const cache = new RowCache(100, 60_000, load);
    const pending = cache.getMany(['a']);
    cache.clear();
    expect(await pending).toEqual(new Map([['a', 1]]));
    await cache.getMany(['a']);
    expect(calls).toEqual([['a'], ['a']]);
  });

  it('fails every caller of a batch whose load fails, and loads afresh afterwards', async () => {
    let fail = true;
    const cache = new RowCache<string, number>(100, 60_000, async (keys) => {
      if (fail) throw new Error('database down');
      return keys.map((k) => [k, 1]);
    });
    const results = await Promise.allSettled([cache.getMany(['a']), cache.getMany(['b'])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    expect(await cache.getMany(['a'])).toEqual(new Map([['a', 1]]));
  });
});
