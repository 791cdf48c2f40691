import { InputError, NotFoundError } from '@fever/errors';
import { faceIdentities, faces, type PersonRow, people } from '@fever/schema';
import { and, asc, count, desc, eq, inArray, isNotNull, sql } from 'drizzle-orm';
import { chunks } from '../chunks.ts';
import type { Db } from '../db.ts';
import type { ModelKey } from './indexing.ts';

export type Person = PersonRow;

/** Longest name a person may have (the CHECK in tables.ts says the same). */
export const MAX_PERSON_NAME = 200;

/** One cluster of a new clustering: the person id it keeps (undefined: a new person) and its faces. */
export interface ClusterAssignment {
  keep?: number;
  faceIds: string[];
}

/** A face of a person, as a person's page shows it. */
export interface PersonFace {
  faceId: string;
  imageId: number;
  faceIndex: number;
  label: string;
  detectionScore: number;
}

const CHUNK = 5000;

/** People (clusters of a collection's faces by identity) and which face belongs to whom. */
export class PeopleRepository {
  constructor(private readonly db: Db) {}

  /**
   * The person each face of the collection was put in by the last clustering, keyed by
   * `imageId:faceIndex` so that faces of another model version of the same image match too.
   */
  async previousAssignments(collectionId: number): Promise<Map<string, number>> {
    const rows = await this.db
      .select({ imageId: faces.imageId, faceIndex: faces.faceIndex, personId: faceIdentities.personId })
      .from(faceIdentities)
      .innerJoin(faces, eq(faces.id, faceIdentities.faceId))
      .where(and(eq(faceIdentities.collectionId, collectionId), isNotNull(faceIdentities.personId)))
      .orderBy(asc(faces.createdAt));
    // The newest row of an (image, face index) wins: the latest model version's assignment.
    return new Map(rows.map((r) => [`${r.imageId}:${r.faceIndex}`, r.personId!]));
  }

  /**
   * Replaces the collection's people with a new clustering in ONE transaction: clusters that keep
   * an id keep its row (and name), the others get new rows; every face of the collection is
   * assigned afresh (faces left out have no person); people no cluster kept are deleted, and a
   * kept person without a name takes the name of one merged into it (`mergedInto`: retired id →
   * kept id). Returns the person id of each cluster, in order.
   */
  async applyClustering(
    collectionId: number,
    clusters: readonly ClusterAssignment[],
    mergedInto: ReadonlyMap<number, number> = new Map(),
  ): Promise<number[]> {
    return this.db.transaction(async (tx) => {
      const fresh = clusters.filter((c) => c.keep === undefined);
      const created: number[] = [];
      for (const chunk of chunks(fresh, CHUNK)) {
        const rows = await tx
          .insert(people)
          .values(chunk.map((c) => ({ collectionId, faceCount: c.faceIds.length })))
          .returning({ id: people.id });
        created.push(...rows.map((r) => r.id));
      }
      let next = 0;
      const ids = clusters.map((c) => c.keep ?? created[next++]!);
      await tx
        .update(faceIdentities)
        .set({ personId: null })
        .where(and(eq(faceIdentities.collectionId, collectionId), isNotNull(faceIdentities.personId)));
      const pairs = clusters.flatMap((c, i) => c.faceIds.map((faceId) => ({ f: faceId, p: ids[i]! })));
      for (const chunk of chunks(pairs, CHUNK)) {
        await tx.execute(sql`
          UPDATE ${faceIdentities} AS fi SET person_id = v.p
          FROM jsonb_to_recordset(${JSON.stringify(chunk)}::jsonb) AS v(f uuid, p integer)
          WHERE fi.face_id = v.f AND fi.collection_id = ${collectionId}`);
      }
      for (const [retired, kept] of mergedInto) {
        await tx.execute(sql`
          UPDATE ${people} AS k SET name = r.name
          FROM ${people} AS r
          WHERE k.id = ${kept} AND r.id = ${retired} AND k.name IS NULL AND r.collection_id = k.collection_id`);
      }
      const counts = clusters.map((c, i) => ({ p: ids[i]!, n: c.faceIds.length }));
      for (const chunk of chunks(counts, CHUNK)) {
        await tx.execute(sql`
          UPDATE ${people} AS p SET face_count = v.n, updated_at = now()
          FROM jsonb_to_recordset(${JSON.stringify(chunk)}::jsonb) AS v(p integer, n integer)
          WHERE p.id = v.p AND p.face_count IS DISTINCT FROM v.n`);
      }
      await tx.execute(sql`
        DELETE FROM ${people} AS p
        WHERE p.collection_id = ${collectionId}
          AND NOT EXISTS (SELECT 1 FROM ${faceIdentities} fi WHERE fi.person_id = p.id)`);
      return ids;
    });
  }

  /** A collection's people, most faces first (then oldest id). */
  async list(collectionId: number, page: { limit: number; offset: number }): Promise<Person[]> {
    return this.db
      .select()
      .from(people)
      .where(eq(people.collectionId, collectionId))
      .orderBy(desc(people.faceCount), asc(people.id))
      .limit(page.limit)
      .offset(page.offset);
  }

  async count(collectionId: number): Promise<number> {
    const [row] = await this.db
      .select({ n: count() })
      .from(people)
      .where(eq(people.collectionId, collectionId));
    return row?.n ?? 0;
  }

  async get(id: number): Promise<Person | undefined> {
    if (!Number.isSafeInteger(id)) return undefined;
    const [row] = await this.db.select().from(people).where(eq(people.id, id));
    return row;
  }

  /** Like get(), but an unknown id is a NotFoundError PERSON_NOT_FOUND. */
  async require(id: number): Promise<Person> {
    const row = await this.get(id);
    if (!row) throw new NotFoundError('PERSON_NOT_FOUND', `no person ${id}`);
    return row;
  }

  /** Sets (or, with null, clears) a person's name: 1-200 characters, not only spaces. */
  async rename(id: number, name: string | null): Promise<Person> {
    if (name !== null && (name.trim() === '' || name.length > MAX_PERSON_NAME)) {
      throw new InputError(
        'INVALID_PERSON_NAME',
        `a person's name must be 1-${MAX_PERSON_NAME} characters and not only spaces, got ${name.length} characters`,
      );
    }
    const [row] = await this.db
      .update(people)
      .set({ name: name === null ? null : name.trim(), updatedAt: sql`now()` })
      .where(eq(people.id, id))
      .returning();
    if (!row) throw new NotFoundError('PERSON_NOT_FOUND', `no person ${id}`);
    return row;
  }

  /** The faces of a person of one expression model version, best detections first. */
  async faces(personId: number, model: ModelKey, limit = 100_000): Promise<PersonFace[]> {
    return this.db
      .select({
        faceId: faces.id,
        imageId: faces.imageId,
        faceIndex: faces.faceIndex,
        label: faces.label,
        detectionScore: faces.detectionScore,
      })
      .from(faceIdentities)
      .innerJoin(faces, eq(faces.id, faceIdentities.faceId))
      .where(
        and(
          eq(faceIdentities.personId, personId),
          eq(faces.modelId, model.modelId),
          eq(faces.modelVersion, model.modelVersion),
        ),
      )
      .orderBy(desc(faces.detectionScore), asc(faces.id))
      .limit(limit);
  }

  /** Each person's face with the best detection score (of one model version): their picture. */
  async covers(personIds: readonly number[], model: ModelKey): Promise<Map<number, string>> {
    if (personIds.length === 0) return new Map();
    const rows = await this.db
      .selectDistinctOn([faceIdentities.personId], { personId: faceIdentities.personId, faceId: faces.id })
      .from(faceIdentities)
      .innerJoin(faces, eq(faces.id, faceIdentities.faceId))
      .where(
        and(
          inArray(faceIdentities.personId, [...personIds]),
          eq(faces.modelId, model.modelId),
          eq(faces.modelVersion, model.modelVersion),
        ),
      )
      .orderBy(faceIdentities.personId, desc(faces.detectionScore), asc(faces.id));
    return new Map(rows.map((r) => [r.personId!, r.faceId]));
  }

  /** The person of each given face that has one. */
  async personOf(faceIds: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const chunk of chunks([...new Set(faceIds.map((id) => id.toLowerCase()))], CHUNK)) {
      if (chunk.length === 0) continue;
      const rows = await this.db
        .select({ faceId: faceIdentities.faceId, personId: faceIdentities.personId })
        .from(faceIdentities)
        .where(and(inArray(faceIdentities.faceId, chunk), isNotNull(faceIdentities.personId)));
      for (const r of rows) out.set(r.faceId, r.personId!);
    }
    return out;
  }
}
