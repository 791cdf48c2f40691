/** Image collections: create, list, look at, get-or-create and delete. */
import { InputError, NotFoundError } from '@fever/errors';
import type { Collection, MetadataStore } from '@fever/metadata';
import { finishDelete } from './collection-delete.ts';
import type { ServingRuntime } from './runtime.ts';

export interface CollectionDetail {
  collection: Collection;
  /** Images by status. */
  images: Awaited<ReturnType<MetadataStore['images']['countByStatus']>>;
  faces: number;
  /** Faces that have an identity descriptor (0 for a collection indexed without them). */
  facesWithIdentity: number;
}

export interface DeletedCollection {
  name: string;
  images: number;
  faces: number;
}

/**
 * The collection `name`, created if it does not exist (also when another process creates it at
 * the same moment). What starting an index run does with its collection.
 */
export async function getOrCreateCollection(
  metadata: MetadataStore,
  name: string,
  settings: { identityDescriptors?: boolean } = {},
): Promise<Collection> {
  const collection =
    (await metadata.collections.get(name)) ??
    (await metadata.collections.create({ name, ...settings }).catch(async (err: unknown) => {
      const again = await metadata.collections.get(name);
      if (again) return again;
      throw err;
    }));
  const wanted = settings.identityDescriptors;
  if (wanted !== undefined && wanted !== collection.identityDescriptors) {
    // A collection is indexed one way: half its faces with descriptors would make its people partial.
    throw new InputError(
      'COLLECTION_IDENTITY_MISMATCH',
      `collection '${name}' ${collection.identityDescriptors ? 'stores' : 'does not store'} identity descriptors; ` +
        `index it ${collection.identityDescriptors ? 'with' : 'without'} them, or into another collection`,
      { status: 409 },
    );
  }
  return collection;
}

export class CollectionService {
  constructor(
    private readonly runtime: ServingRuntime,
    private readonly options: { onDeleted?: (name: string) => void } = {},
  ) {}

  list(): Promise<Collection[]> {
    return this.runtime.metadata.collections.list();
  }

  /** Creates an image collection (InputError COLLECTION_EXISTS, 409, when the name is taken). */
  async create(input: {
    name: string;
    description?: string | null;
    identityDescriptors?: boolean;
  }): Promise<Collection> {
    const created = await this.runtime.metadata.collections.create(input);
    this.runtime.logger.info({ collection: created.name }, 'collection created');
    return created;
  }

  getOrCreate(name: string): Promise<Collection> {
    return getOrCreateCollection(this.runtime.metadata, name);
  }

  /** The collection with its image and face counts (NotFoundError COLLECTION_NOT_FOUND). */
  async detail(name: string): Promise<CollectionDetail> {
    const { metadata } = this.runtime;
    const collection = await metadata.collections.require(name);
    const [images, faces, facesWithIdentity] = await Promise.all([
      metadata.images.countByStatus(collection.id),
      metadata.faces.count({ collectionId: collection.id }),
      metadata.identities.count(collection.id),
    ]);
    return { collection, images, faces, facesWithIdentity };
  }

  /**
   * Deletes a collection everywhere, so that a crash at any point leaves it to be finished, never
   * half-deleted: first it is marked (from then on it reads as gone), then its vectors and its
   * metadata go (collection-delete.ts). A delete that a crash interrupted is finished when fever
   * next opens (or by deleting it again). NotFoundError COLLECTION_NOT_FOUND when it does not
   * exist.
   */
  async delete(name: string): Promise<DeletedCollection> {
    const { metadata, logger } = this.runtime;
    const collection = await metadata.collections.markDeleting(name);
    if (!collection) throw new NotFoundError('COLLECTION_NOT_FOUND', `collection '${name}' does not exist`);
    const counts = await metadata.images.countByStatus(collection.id);
    const images = counts.pending + counts.indexed + counts.failed;
    const faces = await metadata.faces.count({ collectionId: collection.id });
    await finishDelete(this.runtime, collection.name);
    this.options.onDeleted?.(name);
    logger.info({ collection: name, images, faces }, 'collection deleted');
    return { name, images, faces };
  }
}
