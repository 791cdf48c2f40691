import { InputError } from '@fever/errors';
import { type ModelRow, models } from '@fever/schema';
import { and, asc, eq } from 'drizzle-orm';
import type { Db } from '../db.ts';

export type Model = ModelRow;

export interface NewModel {
  id: string;
  version: string;
  dims: number;
  labels: string[];
  fileSha256?: string | null;
  manifest?: Record<string, unknown> | null;
  /** Where the manifest was loaded from; a later registration from elsewhere replaces it. */
  manifestPath?: string | null;
}

export class ModelsRepository {
  constructor(private readonly db: Db) {}

  /**
   * Records a model version, idempotently. The same id@version with different dims, labels or
   * weights is refused (InputError `model_conflict`, 409): vectors of two different models must
   * never share a version tag — release the new weights as a new version instead.
   */
  async register(input: NewModel): Promise<Model> {
    if (!input.id || !input.version)
      throw new InputError('INVALID_MODEL', 'model id and version must not be empty');
    if (!Number.isSafeInteger(input.dims) || input.dims < 1) {
      throw new InputError('INVALID_MODEL', `model dims must be a positive integer, got ${input.dims}`);
    }
    await this.db
      .insert(models)
      .values({
        id: input.id,
        version: input.version,
        dims: input.dims,
        labels: input.labels,
        fileSha256: input.fileSha256 ?? null,
        manifest: input.manifest ?? null,
        manifestPath: input.manifestPath ?? null,
      })
      .onConflictDoNothing();
    let stored = (await this.get(input.id, input.version))!;
    const differs =
      stored.dims !== input.dims ||
      stored.labels.join('\u0000') !== input.labels.join('\u0000') ||
      (stored.fileSha256 ?? null) !== (input.fileSha256 ?? null);
    if (differs) {
      throw new InputError(
        'MODEL_CONFLICT',
        `model ${input.id}@${input.version} is already registered with different dims, labels or weights`,
        { status: 409 },
      );
    }
    if (input.manifestPath && stored.manifestPath !== input.manifestPath) {
      const [moved] = await this.db
        .update(models)
        .set({ manifestPath: input.manifestPath })
        .where(and(eq(models.id, input.id), eq(models.version, input.version)))
        .returning();
      stored = moved!;
    }
    return stored;
  }

  async get(id: string, version: string): Promise<Model | undefined> {
    const [row] = await this.db
      .select()
      .from(models)
      .where(and(eq(models.id, id), eq(models.version, version)));
    return row;
  }

  async list(): Promise<Model[]> {
    return this.db.select().from(models).orderBy(asc(models.id), asc(models.version));
  }
}
