import type { EmbeddedOptions } from './embedded/store.ts';
import { EmbeddedVectorStore } from './embedded/store.ts';
import type { QdrantOptions } from './qdrant/store.ts';
import { QdrantVectorStore } from './qdrant/store.ts';
import type { VectorStore } from './types.ts';

export type VectorStoreConfig =
  | ({ kind: 'embedded' } & EmbeddedOptions)
  | ({ kind: 'qdrant' } & QdrantOptions);

/** Opens the store the (already validated) configuration names: Qdrant when a URL is set, else embedded. */
export async function openVectorStore(config: VectorStoreConfig): Promise<VectorStore> {
  if (config.kind === 'qdrant') {
    const { kind: _kind, ...options } = config;
    return new QdrantVectorStore(options);
  }
  const { kind: _kind, ...options } = config;
  return EmbeddedVectorStore.open(options);
}
