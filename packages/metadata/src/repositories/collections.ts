import { InputError, NotFoundError } from '@fever/errors';
import { type CollectionRow, collectionNameSchema, collections } from '@fever/schema';
import { asc, eq } from 'drizzle-orm';
import type { Db } from '../db.ts';
import { sqlState, UNIQUE_VIOLATION } from '../pg-errors.ts';

export type Collection = CollectionRow;

export interface NewCollection {
  name: string;
  description?: string | null;
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
        .values({ name: name.data, description: input.description ?? null })
        .returning();
      return row!;
    } catch (err) {
      if (sqlState(err) === UNIQUE_VIOLATION) {
        throw new InputError('COLLECTION_EXISTS', `collection '${name.data}' already exists`, {
          status: 409,
        });
      }
      throw err;
    }
  }

  async get(name: string): Promise<Collection | undefined> {
    const [row] = await this.db.select().from(collections).where(eq(collections.name, name));
    return row;
  }

  async getById(id: number): Promise<Collection | undefined> {
    const [row] = await this.db.select().from(collections).where(eq(collections.id, id));
    return row;
  }

  /** Like get(), but a missing collection is a NotFoundError `collection_not_found`. */
  async require(name: string): Promise<Collection> {
    const row = await this.get(name);
    if (!row) throw new NotFoundError('COLLECTION_NOT_FOUND', `collection '${name}' does not exist`);
    return row;
  }

  async list(): Promise<Collection[]> {
    return this.db.select().from(collections).orderBy(asc(collections.name));
  }

  /**
   * Deletes the collection with its images, faces and index runs (foreign keys cascade).
   * Its vectors live elsewhere: the caller deletes those too. Returns false if it did not exist.
   */
  async delete(name: string): Promise<boolean> {
    const deleted = await this.db
      .delete(collections)
      .where(eq(collections.name, name))
      .returning({ id: collections.id });
    return deleted.length > 0;
  }
}
