import { NotFoundError } from '@fever/errors';
import type { Collection } from '@fever/metadata';
import { modelCollectionName } from '@fever/vectors';
import type { Runtime, ServingRuntime } from './runtime.ts';

/** Creates an image collection (InputError COLLECTION_EXISTS, 409, when the name is taken). */
export async function createCollection(
  runtime: Runtime,
  input: { name: string; description?: string | null },
): Promise<Collection> {
  return runtime.metadata.collections.create(input);
}

export interface DeletedCollection {
  name: string;
  images: number;
  faces: number;
}

/**
 * Deletes a collection everywhere, so that a crash at any point leaves it to be finished, never
 * half-deleted: first it is marked (from then on it reads as gone), then its vectors are removed
 * from the vector collection of every registered model version, then its images, faces and index
 * runs (one cascading delete), then the vectors are swept once more for any a concurrent writer
 * added meanwhile. A delete that a crash interrupted is finished by finishInterruptedDeletes when
 * fever next opens (or by deleting it again). NotFoundError COLLECTION_NOT_FOUND when it does not
 * exist.
 */
export async function deleteCollection(runtime: ServingRuntime, name: string): Promise<DeletedCollection> {
  const { metadata } = runtime;
  const collection = await metadata.collections.markDeleting(name);
  if (!collection) throw new NotFoundError('COLLECTION_NOT_FOUND', `collection '${name}' does not exist`);
  const counts = await metadata.images.countByStatus(collection.id);
  const images = counts.pending + counts.indexed + counts.failed;
  const faces = await metadata.faces.count({ collectionId: collection.id });
  await finishDelete(runtime, collection.name);
  runtime.logger.info({ collection: name, images, faces }, 'collection deleted');
  return { name, images, faces };
}

/** Finishes the deletes that a crash interrupted (collections marked but still there). */
export async function finishInterruptedDeletes(
  runtime: Pick<ServingRuntime, 'metadata' | 'vectors' | 'logger'>,
) {
  for (const collection of await runtime.metadata.collections.listDeleting()) {
    await finishDelete(runtime, collection.name);
    runtime.logger.warn(
      { collection: collection.name },
      'finished deleting a collection (a crash had interrupted it)',
    );
  }
}

async function finishDelete(
  runtime: Pick<ServingRuntime, 'metadata' | 'vectors'>,
  name: string,
): Promise<void> {
  const { metadata, vectors } = runtime;
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
