import { describe } from 'vitest';
import { vectorStoreContract } from '../testing/contract.ts';
import { RANDOM_DATA_EF_SEARCH } from '../testing/random.ts';
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
});
