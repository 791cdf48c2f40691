import { InputError, NotFoundError } from '@fever/errors';
import { type ImageRow, type ImageStatus, images, indexRunEntries, indexRuns } from '@fever/schema';
import { and, asc, count, eq, getTableColumns, gt, inArray, isNull, ne, sql } from 'drizzle-orm';
import { chunks } from '../chunks.ts';
import type { Db } from '../db.ts';
import { FOREIGN_KEY_VIOLATION, sqlState } from '../pg-errors.ts';

const SHA256_RE = /^[0-9a-f]{64}$/;
const LOOKUP_CHUNK = 10_000;

export type Image = ImageRow;

export interface NewImage {
  collectionId: number;
  /** Lower-case hex sha256 of the bytes. */
  sha256: string;
  uri: string;
  sizeBytes: number;
}

export type ImageStatusUpdate =
  | { status: 'pending' }
  | { status: 'indexed'; width: number; height: number; faceCount: number }
  | { status: 'failed'; errorCode: string; errorMessage: string; width?: number; height?: number };

export class ImagesRepository {
  constructor(private readonly db: Db) {}

  /**
   * Inserts the image, or finds the one with the same content in the collection and points it at
   * the new uri (the latest location wins). `created` says which happened.
   */
  async upsert(input: NewImage): Promise<{ image: Image; created: boolean }> {
    if (!SHA256_RE.test(input.sha256)) {
      throw new InputError('INVALID_SHA256', 'sha256 must be 64 lower-case hex characters');
    }
    try {
      const [row] = await this.db
        .insert(images)
        .values({
          collectionId: input.collectionId,
          sha256: input.sha256,
          uri: input.uri,
          sizeBytes: input.sizeBytes,
        })
        .onConflictDoUpdate({
          target: [images.collectionId, images.sha256],
          set: { uri: sql`excluded.uri`, updatedAt: sql`now()` },
        })
        // xmax is 0 only on a freshly inserted row version: the standard way to tell an
        // INSERT ... ON CONFLICT DO UPDATE's insert from its update in one round trip.
        .returning({ ...getTableColumns(images), created: sql<boolean>`(xmax = 0)` });
      const { created, ...image } = row!;
      return { image, created };
    } catch (err) {
      if (sqlState(err) === FOREIGN_KEY_VIOLATION) {
        throw new NotFoundError('COLLECTION_NOT_FOUND', `collection ${input.collectionId} does not exist`);
      }
      throw err;
    }
  }

  /** Sets the status; `indexed` and `pending` clear any previous error. */
  async setStatus(id: number, update: ImageStatusUpdate): Promise<Image> {
    const set =
      update.status === 'failed'
        ? {
            status: update.status,
            errorCode: update.errorCode,
            errorMessage: update.errorMessage,
            ...(update.width === undefined ? {} : { width: update.width }),
            ...(update.height === undefined ? {} : { height: update.height }),
          }
        : update.status === 'indexed'
          ? {
              status: update.status,
              width: update.width,
              height: update.height,
              faceCount: update.faceCount,
              errorCode: null,
              errorMessage: null,
            }
          : { status: update.status, errorCode: null, errorMessage: null };
    const [row] = await this.db
      .update(images)
      .set({ ...set, updatedAt: sql`now()` })
      .where(eq(images.id, id))
      .returning();
    if (!row) throw new NotFoundError('IMAGE_NOT_FOUND', `image ${id} does not exist`);
    return row;
  }

  async get(id: number): Promise<Image | undefined> {
    const [row] = await this.db.select().from(images).where(eq(images.id, id));
    return row;
  }

  /** Images by id, in no particular order; missing ids are left out. */
  async getByIds(ids: readonly number[]): Promise<Image[]> {
    const rows: Image[] = [];
    for (const chunk of chunks([...new Set(ids)], LOOKUP_CHUNK)) {
      rows.push(...(await this.db.select().from(images).where(inArray(images.id, chunk))));
    }
    return rows;
  }

  async getBySha256(collectionId: number, sha256: string): Promise<Image | undefined> {
    const [row] = await this.db
      .select()
      .from(images)
      .where(and(eq(images.collectionId, collectionId), eq(images.sha256, sha256)));
    return row;
  }

  /** Failed images of a collection by ascending id; pass the last id seen as `afterId` for the next page. */
  async listFailures(
    collectionId: number,
    page: { limit?: number; afterId?: number } = {},
  ): Promise<Image[]> {
    return this.db
      .select()
      .from(images)
      .where(
        and(
          eq(images.collectionId, collectionId),
          eq(images.status, 'failed'),
          page.afterId === undefined ? undefined : gt(images.id, page.afterId),
        ),
      )
      .orderBy(asc(images.id))
      .limit(page.limit ?? 100);
  }

  /**
   * Images of the collection by status. `failed` also counts the entries that failed before
   * their bytes could be read, so have no image row (a missing or unreadable file, a damaged or
   * refused archive member), by the latest outcome of each in the collection's runs.
   */
  async countByStatus(collectionId: number): Promise<Record<ImageStatus, number>> {
    const rows = await this.db
      .select({ status: images.status, n: count() })
      .from(images)
      .where(eq(images.collectionId, collectionId))
      .groupBy(images.status);
    const counts: Record<ImageStatus, number> = { pending: 0, indexed: 0, failed: 0 };
    for (const row of rows) counts[row.status] = row.n;
    const latest = this.db
      .selectDistinctOn([indexRunEntries.uri], {
        outcome: indexRunEntries.outcome,
        imageId: indexRunEntries.imageId,
      })
      .from(indexRunEntries)
      .innerJoin(indexRuns, eq(indexRuns.id, indexRunEntries.runId))
      .where(and(eq(indexRuns.collectionId, collectionId), ne(indexRunEntries.outcome, 'pending')))
      .orderBy(indexRunEntries.uri, sql`${indexRunEntries.finishedAt} DESC NULLS LAST`)
      .as('latest');
    const [unread] = await this.db
      .select({ n: count() })
      .from(latest)
      .where(and(eq(latest.outcome, 'failed'), isNull(latest.imageId)));
    counts.failed += unread?.n ?? 0;
    return counts;
  }
}
