/** Indexed images as a server shows them: the image with its faces of the version searches use. */
import { NotFoundError } from '@fever/errors';
import type { Face, Image } from '@fever/metadata';
import type { ModelContext } from './models.ts';
import type { ServingRuntime } from './runtime.ts';

export interface ImageDetail {
  image: Image;
  /** Its collection's name ('' once the collection is gone). */
  collection: string;
  /** The version searches use, whose faces these are. */
  model: ModelContext;
  faces: Face[];
}

export class ImageService {
  constructor(private readonly runtime: ServingRuntime) {}

  /** The image row (NotFoundError IMAGE_NOT_FOUND). */
  async get(id: number): Promise<Image> {
    const image = await this.runtime.metadata.images.get(id);
    if (!image) throw new NotFoundError('IMAGE_NOT_FOUND', `image ${id} does not exist`);
    return image;
  }

  /** The image, its collection and its faces of the version searches use. */
  async detail(id: number): Promise<ImageDetail> {
    const { metadata } = this.runtime;
    const image = await this.get(id);
    const model = await this.runtime.serving.model();
    const collection = await metadata.collections.getById(image.collectionId);
    const faces = (await metadata.faces.listByImage(image.id)).filter(
      (f) => f.modelId === model.id && f.modelVersion === model.version,
    );
    return { image, collection: collection?.name ?? '', model, faces };
  }
}
