import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { vectorStoreContract } from '../testing/contract.ts';
import { RANDOM_DATA_EF_SEARCH } from '../testing/random.ts';
import { EmbeddedVectorStore } from './store.ts';

const dir = mkdtempSync(join(tmpdir(), 'fever-vectors-contract-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The suite's 20k uniform random vectors have no structure for the graph to follow: they need
// a far wider beam than the default (sized for real face embeddings) to reach recall@10 0.98.
vectorStoreContract('embedded (usearch HNSW, i8: the default)', {
  prefix: 'contract_i8_',
  open: () => EmbeddedVectorStore.open({ dir, efSearch: RANDOM_DATA_EF_SEARCH }),
});

vectorStoreContract('embedded (usearch HNSW, f32)', {
  prefix: 'contract_f32_',
  open: () => EmbeddedVectorStore.open({ dir, dtype: 'f32', efSearch: RANDOM_DATA_EF_SEARCH }),
});
