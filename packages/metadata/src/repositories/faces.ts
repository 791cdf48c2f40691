import { InputError } from '@fever/errors';
import { type Box, type FaceRow, faces, isUuid, type NewFaceRow } from '@fever/schema';
import { and, asc, count, eq, inArray, type SQL, sql } from 'drizzle-orm';
import { chunks } from '../chunks.ts';
import type { Db } from '../db.ts';
import { FOREIGN_KEY_VIOLATION, sqlState, UNIQUE_VIOLATION } from '../pg-errors.ts';

export interface Face {
  /** Point id in the vector store. */
  id: string;
  imageId: number;
  collectionId: number;
  faceIndex: number;
  box: Box;
  detectionScore: number;
  /** In the order of the model's labels. */
  probs: number[];
  label: string;
  modelId: string;
  modelVersion: string;
  createdAt: Date;
}

/** A face's identity descriptor and the identity model (`id@version`) that made it. */
export interface FaceIdentity {
  model: string;
  descriptor: ArrayLike<number>;
}

export type NewFace = Omit<Face, 'createdAt'> & {
  /** Stored with the face by the indexer's record(); absent: the face has none (any old one goes). */
  identity?: FaceIdentity;
};

export interface FaceModelFilter {
  collectionId?: number;
  modelId?: string;
  modelVersion?: string;
}

/** Rows per INSERT: 13 parameters each stays far below Postgres's 65535-parameter limit. */
const INSERT_CHUNK = 1000;
const LOOKUP_CHUNK = 10_000;

export class FacesRepository {
  constructor(private readonly db: Db) {}

  /**
   * Writes faces keyed by their deterministic id, all or nothing. On an id that exists,
   * `ignore` (default) keeps the stored row, so a retried job is a no-op; `update` overwrites
   * it. Returns how many rows were written (inserted, plus updated under `update`).
   */
  async insertMany(
    rows: readonly NewFace[],
    options: { onConflict?: 'ignore' | 'update' } = {},
  ): Promise<number> {
    if (rows.length === 0) return 0;
    const bad = rows.find((face) => !isUuid(face.id));
    if (bad !== undefined) throw new InputError('INVALID_FACE_ID', `face id is not a UUID: '${bad.id}'`);
    // One row per id (the last wins): ON CONFLICT DO UPDATE refuses to touch a row twice in one statement.
    const values = [...new Map(rows.map((face) => [face.id.toLowerCase(), toFaceRow(face)])).values()];
    try {
      return await this.db.transaction(async (tx) => {
        let written = 0;
        for (const chunk of chunks(values, INSERT_CHUNK)) {
          const insert = tx.insert(faces).values(chunk);
          const done =
            options.onConflict === 'update'
              ? await insert
                  .onConflictDoUpdate({ target: faces.id, set: EXCLUDED_FACE_COLUMNS })
                  .returning({ id: faces.id })
              : await insert.onConflictDoNothing({ target: faces.id }).returning({ id: faces.id });
          written += done.length;
        }
        return written;
      });
    } catch (err) {
      if (sqlState(err) === UNIQUE_VIOLATION) {
        // Not the id (ON CONFLICT covers it): the (image, face index, model) key under another id.
        throw new InputError(
          'FACE_ID_MISMATCH',
          'a face with the same image, face index and model is stored under another id; ' +
            'face ids must come from facePointId()',
          { cause: err },
        );
      }
      if (sqlState(err) === FOREIGN_KEY_VIOLATION) {
        throw new InputError(
          'FACE_REFERENCE_MISSING',
          'a face refers to an image (in that collection) or a model that does not exist',
          { cause: err },
        );
      }
      throw err;
    }
  }

  /** Faces of one image, by model then position. */
  async listByImage(imageId: number): Promise<Face[]> {
    const rows = await this.db
      .select()
      .from(faces)
      .where(eq(faces.imageId, imageId))
      .orderBy(asc(faces.modelId), asc(faces.modelVersion), asc(faces.faceIndex));
    return rows.map(fromRow);
  }

  /** Deletes an image's faces (optionally of one model only) and returns their ids, for the vector store. */
  async deleteByImage(imageId: number, model?: { modelId: string; modelVersion: string }): Promise<string[]> {
    const deleted = await this.db
      .delete(faces)
      .where(
        and(
          eq(faces.imageId, imageId),
          model ? eq(faces.modelId, model.modelId) : undefined,
          model ? eq(faces.modelVersion, model.modelVersion) : undefined,
        ),
      )
      .returning({ id: faces.id });
    return deleted.map((r) => r.id);
  }

  async count(filter: FaceModelFilter = {}): Promise<number> {
    const [row] = await this.db
      .select({ n: count() })
      .from(faces)
      .where(and(...modelConditions(filter)));
    return row?.n ?? 0;
  }

  /** Faces in the order of `ids`; unknown ids are left out. */
  async getByIds(ids: readonly string[]): Promise<Face[]> {
    const bad = ids.find((id) => !isUuid(id));
    if (bad !== undefined) throw new InputError('INVALID_FACE_ID', `face id is not a UUID: '${bad}'`);
    if (ids.length === 0) return [];
    const unique = [...new Set(ids.map((id) => id.toLowerCase()))];
    const rows: FaceRow[] = [];
    for (const chunk of chunks(unique, LOOKUP_CHUNK)) {
      rows.push(...(await this.db.select().from(faces).where(inArray(faces.id, chunk))));
    }
    const byId = new Map(rows.map((r) => [r.id, fromRow(r)]));
    return ids.flatMap((id) => byId.get(id.toLowerCase()) ?? []);
  }
}

function modelConditions(filter: FaceModelFilter): (SQL | undefined)[] {
  return [
    filter.collectionId === undefined ? undefined : eq(faces.collectionId, filter.collectionId),
    filter.modelId === undefined ? undefined : eq(faces.modelId, filter.modelId),
    filter.modelVersion === undefined ? undefined : eq(faces.modelVersion, filter.modelVersion),
  ];
}

/** ON CONFLICT DO UPDATE's SET: every column but the id, from the proposed row. */
export const EXCLUDED_FACE_COLUMNS = Object.fromEntries(
  (
    [
      'imageId',
      'collectionId',
      'faceIndex',
      'boxX',
      'boxY',
      'boxWidth',
      'boxHeight',
      'detectionScore',
      'probs',
      'label',
      'modelId',
      'modelVersion',
    ] as const
  ).map((key) => [key, sql.raw(`excluded.${faces[key].name}`)]),
);

export function toFaceRow(face: NewFace): NewFaceRow {
  return {
    id: face.id,
    imageId: face.imageId,
    collectionId: face.collectionId,
    faceIndex: face.faceIndex,
    boxX: face.box.x,
    boxY: face.box.y,
    boxWidth: face.box.width,
    boxHeight: face.box.height,
    detectionScore: face.detectionScore,
    probs: face.probs,
    label: face.label,
    modelId: face.modelId,
    modelVersion: face.modelVersion,
  };
}

function fromRow(row: FaceRow): Face {
  return {
    id: row.id,
    imageId: row.imageId,
    collectionId: row.collectionId,
    faceIndex: row.faceIndex,
    box: { x: row.boxX, y: row.boxY, width: row.boxWidth, height: row.boxHeight },
    detectionScore: row.detectionScore,
    probs: row.probs,
    label: row.label,
    modelId: row.modelId,
    modelVersion: row.modelVersion,
    createdAt: row.createdAt,
  };
}
