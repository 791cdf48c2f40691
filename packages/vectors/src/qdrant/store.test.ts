import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { vectorStoreContract } from '../testing/contract.ts';
import { RANDOM_DATA_EF_SEARCH, testId } from '../testing/random.ts';
import { QdrantVectorStore } from './store.ts';

// Qdrant cannot be assumed on a developer machine: run against it when QDRANT_URL names one
// (docker run -p 6333:6333 qdrant/qdrant), and say plainly when the suite did not run.
const url = process.env.QDRANT_URL;
if (!url) console.warn('Qdrant adapter tests SKIPPED: QDRANT_URL not set');

describe.skipIf(!url)('Qdrant adapter', () => {
  // A per-run prefix: the server may be shared with other runs.
  const prefix = `fevertest_${process.pid}_${Date.now().toString(36)}_`;
  vectorStoreContract('qdrant', {
    prefix,
    // Random vectors need a wider beam than the default (see RANDOM_DATA_EF_SEARCH).
    open: async () =>
      new QdrantVectorStore({
        url: url!,
        apiKey: process.env.QDRANT_API_KEY,
        efSearch: RANDOM_DATA_EF_SEARCH,
      }),
    vectorTolerance: 1e-5,
    ingestTimeoutMs: 300_000,
  });

  it('asks for uncompressed answers (a gzipped one waits ~40 ms for a delayed ACK)', async () => {
    // A pass-through proxy that notes how each of Qdrant's answers was encoded.
    const encodings: string[] = [];
    const target = new URL(url!);
    const proxy = createServer((req, res) => {
      const upstream = request(
        { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
        (answer) => {
          encodings.push(answer.headers['content-encoding'] ?? 'identity');
          res.writeHead(answer.statusCode!, answer.headers);
          answer.pipe(res);
        },
      );
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const store = new QdrantVectorStore({
        url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
        apiKey: process.env.QDRANT_API_KEY,
      });
      const name = `${prefix}encoding`;
      await store.ensureCollection({ name, dims: 4, distance: 'cosine' });
      const payload = { collection: 'c', imageId: '1', label: 'happy', score: 0.9, model: 'm@1' };
      await store.upsert(name, [{ id: testId(1), vector: Float32Array.of(1, 0, 0, 0), payload }]);
      expect(await store.search(name, Float32Array.of(1, 0, 0, 0), { k: 1 })).toHaveLength(1);
      await store.dropCollection(name);
      expect(encodings.length).toBeGreaterThan(5);
      expect(new Set(encodings)).toEqual(new Set(['identity']));
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});
