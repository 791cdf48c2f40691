import { NotFoundError } from '@fever/errors';
import type { Collection } from '@fever/metadata';
import { modelCollectionName } from '@fever/vectors';
import type { Runtime } from './runtime.ts';

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
 * Deletes a collection everywhere: its vectors from the vector collection of every registered
 * model version, then its images, faces and index runs (one cascading delete). Vectors go
 * first so that a failure half-way leaves metadata to retry with, never invisible orphans; the
 * vectors are swept once more after the metadata, for any a concurrent writer added meanwhile.
 * NotFoundError COLLECTION_NOT_FOUND when it does not exist.
 */
export async function deleteCollection(runtime: Runtime, name: string): Promise<DeletedCollection> {
  const { metadata, vectors } = runtime;
  const collection = await metadata.collections.require(name);
  const counts = await metadata.images.countByStatus(collection.id);
  const images = counts.pending + counts.indexed + counts.failed;
  const faces = await metadata.faces.count({ collectionId: collection.id });
  const sweep = async () => {
    for (const model of await metadata.models.list()) {
      const vectorCollection = modelCollectionName(model.id, model.version);
      if (await vectors.describeCollection(vectorCollection)) {
        await vectors.deleteByFilter(vectorCollection, { collections: [name] });
      }
    }
  };
  await sweep();
  if (!(await metadata.collections.delete(name))) {
    throw new NotFoundError('COLLECTION_NOT_FOUND', `collection '${name}' does not exist`);
  }
  await sweep();
  runtime.logger.info({ collection: name, images, faces }, 'collection deleted');
  return { name, images, faces };
}
