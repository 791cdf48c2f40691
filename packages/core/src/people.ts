/**
 * People: a collection's faces clustered by identity descriptor (@fever/people), with stable ids
 * and names a user sets. What `fever people …` and the /people routes call.
 */
import { InputError } from '@fever/errors';
import type { Collection, Person, PersonFace } from '@fever/metadata';
import { clusterDescriptors, DEFAULT_LINK_DISTANCE, DEFAULT_NEIGHBOURS, stableIds } from '@fever/people';
import type { ServingRuntime } from './runtime.ts';

export interface ClusterRequest {
  /** Cosine distance under which two faces link (default DEFAULT_LINK_DISTANCE). */
  threshold?: number;
  /** Nearest faces each face may link to (default DEFAULT_NEIGHBOURS). */
  neighbours?: number;
}

export interface ClusteringResult {
  collection: string;
  /** Faces clustered (those of the serving model version that have a descriptor). */
  faces: number;
  people: number;
  /** People that kept an id from the clustering before, and new ones. */
  kept: number;
  created: number;
  /** Old people merged into others or gone. */
  retired: number;
  threshold: number;
  neighbours: number;
  ms: number;
}

export interface PersonSummary {
  id: number;
  collection: string;
  name: string | null;
  faceCount: number;
  /** The person's face with the best detection score. */
  coverFaceId: string | null;
}

export interface PersonDetail extends PersonSummary {
  /** The person's faces grouped by top expression label, the largest group first. */
  expressions: { label: string; count: number; faces: PersonFace[] }[];
}

/** Faces per expression row a person's page shows unless asked for more. */
const DEFAULT_FACES_PER_EXPRESSION = 24;
const MAX_PAGE = 1000;

/** Why a collection has no people; null when it can have them. */
export function identityUnavailable(collection: Collection): InputError | null {
  return collection.identityDescriptors
    ? null
    : new InputError(
        'IDENTITY_UNAVAILABLE',
        `collection '${collection.name}' was indexed without identity descriptors, so it has no people ` +
          '(create a collection with identity descriptors on, the default, and index into it)',
      );
}

export class PeopleService {
  constructor(private readonly runtime: ServingRuntime) {}

  /**
   * Clusters the collection's faces (of the model version searches use) into people, keeping the
   * ids (and names) of the people from the clustering before wherever they still hold (see
   * @fever/people stableIds). Re-runnable: run it again after indexing more photos.
   */
  async cluster(collectionName: string, request: ClusterRequest = {}): Promise<ClusteringResult> {
    const threshold = request.threshold ?? DEFAULT_LINK_DISTANCE;
    const neighbours = request.neighbours ?? DEFAULT_NEIGHBOURS;
    if (!(Number.isFinite(threshold) && threshold >= 0 && threshold <= 2)) {
      throw new InputError(
        'INVALID_THRESHOLD',
        `threshold must be a cosine distance in [0, 2], got ${threshold}`,
      );
    }
    if (!Number.isInteger(neighbours) || neighbours < 1 || neighbours > 100) {
      throw new InputError(
        'INVALID_NEIGHBOURS',
        `neighbours must be a whole number from 1 to 100, got ${neighbours}`,
      );
    }
    const { metadata, logger } = this.runtime;
    const collection = await metadata.collections.require(collectionName);
    const unavailable = identityUnavailable(collection);
    if (unavailable) throw unavailable;
    return this.runtime.serving.use(async ({ model }) => {
      const t0 = performance.now();
      const key = { modelId: model.id, modelVersion: model.version };
      const faces = [];
      for (let after: string | undefined; ; ) {
        const page = await metadata.identities.list(collection.id, key, { afterId: after, limit: 10_000 });
        faces.push(...page);
        if (page.length < 10_000) break;
        after = page[page.length - 1]!.faceId;
      }
      const { labels, count } = clusterDescriptors(
        faces.map((f) => f.descriptor),
        { threshold, neighbours },
      );
      const before = await metadata.people.previousAssignments(collection.id);
      const previous = faces.map((f) => before.get(`${f.imageId}:${f.faceIndex}`));
      const stable = stableIds(labels, count, previous);
      const members: string[][] = Array.from({ length: count }, () => []);
      for (const [i, f] of faces.entries()) members[labels[i]!]!.push(f.faceId);
      const ids = await metadata.people.applyClustering(
        collection.id,
        members.map((faceIds, c) => ({
          faceIds,
          ...(stable.ids[c] === undefined ? {} : { keep: stable.ids[c] }),
        })),
        stable.mergedInto,
      );
      const kept = stable.ids.filter((id) => id !== undefined).length;
      const result: ClusteringResult = {
        collection: collection.name,
        faces: faces.length,
        people: ids.length,
        kept,
        created: ids.length - kept,
        retired: stable.retired.length,
        threshold,
        neighbours,
        ms: Math.round(performance.now() - t0),
      };
      logger.info({ ...result }, 'people clustered');
      return result;
    });
  }

  /** A page of the collection's people, most faces first. */
  async list(
    collectionName: string,
    page: { limit?: number; offset?: number } = {},
  ): Promise<{ collection: string; total: number; people: PersonSummary[] }> {
    const limit = page.limit ?? 50;
    const offset = page.offset ?? 0;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
      throw new InputError(
        'INVALID_LIMIT',
        `limit must be a whole number from 1 to ${MAX_PAGE}, got ${limit}`,
      );
    }
    if (!Number.isInteger(offset) || offset < 0) {
      throw new InputError('INVALID_OFFSET', `offset must be a whole number ≥ 0, got ${offset}`);
    }
    const { metadata } = this.runtime;
    const collection = await metadata.collections.require(collectionName);
    const unavailable = identityUnavailable(collection);
    if (unavailable) throw unavailable;
    return this.runtime.serving.use(async ({ model }) => {
      const [rows, total] = await Promise.all([
        metadata.people.list(collection.id, { limit, offset }),
        metadata.people.count(collection.id),
      ]);
      const covers = await metadata.people.covers(
        rows.map((p) => p.id),
        { modelId: model.id, modelVersion: model.version },
      );
      return {
        collection: collection.name,
        total,
        people: rows.map((p) => summary(p, collection.name, covers.get(p.id) ?? null)),
      };
    });
  }

  /** A person with their faces grouped by expression (NotFoundError PERSON_NOT_FOUND). */
  async show(personId: number, options: { perExpression?: number } = {}): Promise<PersonDetail> {
    const per = options.perExpression ?? DEFAULT_FACES_PER_EXPRESSION;
    if (!Number.isInteger(per) || per < 1 || per > MAX_PAGE) {
      throw new InputError(
        'INVALID_LIMIT',
        `faces per expression must be a whole number from 1 to ${MAX_PAGE}, got ${per}`,
      );
    }
    const { metadata } = this.runtime;
    const person = await metadata.people.require(personId);
    const collection = await metadata.collections.getById(person.collectionId);
    return this.runtime.serving.use(async ({ model }) => {
      const faces = await metadata.people.faces(person.id, {
        modelId: model.id,
        modelVersion: model.version,
      });
      const byLabel = new Map<string, PersonFace[]>();
      for (const f of faces) byLabel.set(f.label, [...(byLabel.get(f.label) ?? []), f]);
      const expressions = [...byLabel.entries()]
        .map(([label, list]) => ({ label, count: list.length, faces: list.slice(0, per) }))
        .sort((a, b) => b.count - a.count || (a.label < b.label ? -1 : 1));
      return {
        ...summary(person, collection?.name ?? '', faces[0]?.faceId ?? null),
        expressions,
      };
    });
  }

  /** Names a person (null clears the name). InputError INVALID_PERSON_NAME for an empty or too long name. */
  async rename(personId: number, name: string | null): Promise<PersonSummary> {
    const { metadata } = this.runtime;
    const person = await metadata.people.rename(personId, name);
    const collection = await metadata.collections.getById(person.collectionId);
    return summary(person, collection?.name ?? '', null);
  }
}

function summary(p: Person, collection: string, cover: string | null): PersonSummary {
  return { id: p.id, collection, name: p.name, faceCount: p.faceCount, coverFaceId: cover };
}
