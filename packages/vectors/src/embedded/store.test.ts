import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { vectorStoreContract } from '../testing/contract.ts';
import { EmbeddedVectorStore } from './store.ts';

const dir = mkdtempSync(join(tmpdir(), 'fever-vectors-contract-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

vectorStoreContract('embedded (usearch HNSW, f32)', {
  prefix: 'contract_',
  open: () => EmbeddedVectorStore.open({ dir }),
});
