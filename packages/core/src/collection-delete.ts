/**
 * The second half of a collection delete, which a crash may interrupt: its vectors swept from the
 * vector collection of every registered model version, its metadata deleted (one cascading
 * delete), the vectors swept once more for any a concurrent writer added meanwhile. Run after the
 * collection was marked deleting (CollectionService.delete), or for every collection still marked
 * when fever next opens (recovery.ts).
 */
import type { MetadataStore } from '@fever/metadata';
import { modelCollectionName, type VectorStore } from '@fever/vectors';
import type { Logger } from './logger.ts';

interface Stores {
  metadata: MetadataStore;
  vectors: VectorStore;
}

export async function finishDelete({ metadata, vectors }: Stores, name: string): Promise<void> {
  const sweep = async () => {
    for (const model of await metadata.models.list()) {
      const vectorCollection = modelCollectionName(model.id, model.version);
      if (await vectors.describeCollection(vectorCollection)) {
        await vectors.deleteByFilter(vectorCollection, { collections: [name] });
      }
    }
  };
  await sweep();
  await metadata.collections.delete(name);
  await sweep();
}

/** Finishes the deletes that a crash interrupted (collections marked but still there). */
export async function finishInterruptedDeletes(stores: Stores & { logger: Logger }): Promise<void> {
  for (const collection of await stores.metadata.collections.listDeleting()) {
    await finishDelete(stores, collection.name);
    stores.logger.warn(
      { collection: collection.name },
      'finished deleting a collection (a crash had interrupted it)',
    );
  }
}
