import { faceIdentities, faces } from '@fever/schema';
import { and, asc, count, eq, gt, inArray } from 'drizzle-orm';
import { chunks } from '../chunks.ts';
import type { Db } from '../db.ts';
import type { ModelKey } from './indexing.ts';

/** A stored identity descriptor with where its face sits (for clustering and search). */
export interface StoredIdentity {
  faceId: string;
  imageId: number;
  faceIndex: number;
  /** The identity model, `id@version`. */
  model: string;
  descriptor: Float32Array;
}

/** A face's descriptor and the person the last clustering put it in (null: none yet). */
export interface FaceIdentityInfo {
  model: string;
  descriptor: Float32Array;
  personId: number | null;
}

const LOOKUP_CHUNK = 10_000;

/** Identity descriptors of faces (written by the indexer's record(), see indexing.ts). */
export class IdentitiesRepository {
  constructor(private readonly db: Db) {}

  /** Faces of the collection that have a descriptor (of one expression model version, if given). */
  async count(collectionId: number, model?: ModelKey): Promise<number> {
    const [row] = await this.db
      .select({ n: count() })
      .from(faceIdentities)
      .innerJoin(faces, eq(faces.id, faceIdentities.faceId))
      .where(
        and(
          eq(faceIdentities.collectionId, collectionId),
          model ? eq(faces.modelId, model.modelId) : undefined,
          model ? eq(faces.modelVersion, model.modelVersion) : undefined,
        ),
      );
    return row?.n ?? 0;
  }

  /** One page of a collection's descriptors of faces of one expression model version, by face id. */
  async list(
    collectionId: number,
    model: ModelKey,
    page: { afterId?: string; limit?: number } = {},
  ): Promise<StoredIdentity[]> {
    const rows = await this.db
      .select({
        faceId: faceIdentities.faceId,
        imageId: faces.imageId,
        faceIndex: faces.faceIndex,
        model: faceIdentities.model,
        descriptor: faceIdentities.descriptor,
      })
      .from(faceIdentities)
      .innerJoin(faces, eq(faces.id, faceIdentities.faceId))
      .where(
        and(
          eq(faceIdentities.collectionId, collectionId),
          eq(faces.modelId, model.modelId),
          eq(faces.modelVersion, model.modelVersion),
          page.afterId === undefined ? undefined : gt(faceIdentities.faceId, page.afterId),
        ),
      )
      .orderBy(asc(faceIdentities.faceId))
      .limit(page.limit ?? 10_000);
    return rows.map((r) => ({ ...r, descriptor: Float32Array.from(r.descriptor) }));
  }

  /** Descriptors (and people, once clustered) of the given faces that have a descriptor. */
  async getByFaceIds(ids: readonly string[]): Promise<Map<string, FaceIdentityInfo>> {
    const out = new Map<string, FaceIdentityInfo>();
    const unique = [...new Set(ids.map((id) => id.toLowerCase()))];
    for (const chunk of chunks(unique, LOOKUP_CHUNK)) {
      if (chunk.length === 0) continue;
      const rows = await this.db
        .select({
          faceId: faceIdentities.faceId,
          model: faceIdentities.model,
          descriptor: faceIdentities.descriptor,
          personId: faceIdentities.personId,
        })
        .from(faceIdentities)
        .where(inArray(faceIdentities.faceId, chunk));
      for (const r of rows) {
        out.set(r.faceId, {
          model: r.model,
          descriptor: Float32Array.from(r.descriptor),
          personId: r.personId,
        });
      }
    }
    return out;
  }
}
