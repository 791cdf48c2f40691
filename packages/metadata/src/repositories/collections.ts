import { InputError, NotFoundError } from '@fever/errors';
import { type CollectionRow, collectionNameSchema, collections } from '@fever/schema';
import { and, asc, eq, isNotNull, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db.ts';
import { sqlState, UNIQUE_VIOLATION } from '../pg-errors.ts';

export type Collection = CollectionRow;

export interface NewCollection {
  name: string;
  description?: string | null;
  /** Store an identity descriptor with each face (default true). */
  identityDescriptors?: boolean;
}

export class CollectionsRepository {
  constructor(private readonly db: Db) {}

  /** Throws InputError `collection_exists` (409) when the name is taken. */
  async create(input: NewCollection): Promise<Collection> {
    const name = collectionNameSchema.safeParse(input.name);
    if (!name.success) {
      throw new InputError('INVALID_COLLECTION_NAME', `collection name ${name.error.issues[0]?.message}`);
    }
    try {
      const [row] = await this.db
        .insert(collections)
        .values({
          name: name.data,
          description: input.description ?? null,
          identityDescriptors: input.identityDescriptors ?? true,
        })
        .returning();
      return row!;
    } catch (err) {
      if (sqlState(err) === UNIQUE_VIOLATION) {
        if (!(await this.get(name.data))) {
          throw new InputError(
            'COLLECTION_DELETING',
            `collection '${name.data}' is being deleted; create it again once that has finished`,
            { status: 409 },
          );
        }
        throw new InputError('COLLECTION_EXISTS', `collection '${name.data}' already exists`, {
          status: 409,
        });
      }
      throw err;
    }
  }

  /** A collection being deleted (see markDeleting) is not found by get, getById, require or list. */
  async get(name: string): Promise<Collection | undefined> {
    const [row] = await this.db
      .select()
      .from(collections)
      .where(and(eq(collections.name, name), isNull(collections.deletingAt)));
    return row;
  }

  async getById(id: number): Promise<Collection | undefined> {
    const [row] = await this.db
      .select()
      .from(collections)
      .where(and(eq(collections.id, id), isNull(collections.deletingAt)));
    return row;
  }

  /** Like get(), but a missing collection is a NotFoundError `collection_not_found`. */
  async require(name: string): Promise<Collection> {
    const row = await this.get(name);
    if (!row) throw new NotFoundError('COLLECTION_NOT_FOUND', `collection '${name}' does not exist`);
    return row;
  }

  async list(): Promise<Collection[]> {
    return this.db
      .select()
      .from(collections)
      .where(isNull(collections.deletingAt))
      .orderBy(asc(collections.name));
  }

  /**
   * The first step of deleting a collection: marks it (from now on it reads as gone) and returns
   * it. A collection already marked is returned again, so a second delete finishes the first.
   */
  async markDeleting(name: string): Promise<Collection | undefined> {
    const [row] = await this.db
      .update(collections)
      .set({ deletingAt: sql`coalesce(${collections.deletingAt}, now())` })
      .where(eq(collections.name, name))
      .returning();
    return row;
  }

  /** Collections whose delete has begun and not finished (a crash interrupted it). */
  async listDeleting(): Promise<Collection[]> {
    return this.db
      .select()
      .from(collections)
      .where(isNotNull(collections.deletingAt))
      .orderBy(asc(collections.id));
  }

  /**
   * Deletes the collection with its images, faces and index runs (foreign keys cascade), marked
   * for deletion or not. Its vectors live elsewhere: the caller deletes those too. Returns false
   * if it did not exist.
   */
  async delete(name: string): Promise<boolean> {
    const deleted = await this.db
      .delete(collections)
      .where(eq(collections.name, name))
      .returning({ id: collections.id });
    return deleted.length > 0;
  }
}
