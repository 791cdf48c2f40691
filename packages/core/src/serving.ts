/**
 * Which model version a serving process answers with: the one the model's alias points at, i.e.
 * the newest version whose index run completed (finalizeRun moves the alias). A process whose own
 * encoder is a newer version keeps answering with the aliased version, its encoder loaded for
 * queries, until the alias moves; then it switches, without a restart. A query is never answered
 * from a half-filled collection.
 *
 * The alias is read again at most every `checkMs`. A new version is loaded in the background
 * while the old one keeps answering; queries under way keep the version they started with, and
 * an encoder nothing uses any more is closed.
 */
import { bundledManifestPath, type Encoder } from '@fever/encoder';
import { FeverError } from '@fever/errors';
import type { MetadataStore } from '@fever/metadata';
import type { VectorStore } from '@fever/vectors';
import type { Logger } from './logger.ts';
import { type ModelContext, modelContext } from './models.ts';

/** A model version as a query uses it. */
export interface ServedModel {
  readonly model: ModelContext;
  /** Its encoder (the process's own when it is the own version; loaded on first use otherwise). */
  encoder(): Promise<Encoder>;
}

export interface ModelAliasOptions {
  metadata: MetadataStore;
  vectors: VectorStore;
  logger: Logger;
  /** This process's own model, registered (its collection, and the alias if it had none, ensured). */
  own(): Promise<ModelContext>;
  ownEncoder(): Promise<Encoder>;
  /** An encoder like the own one, for the expression model of another manifest. */
  openEncoder(manifestPath: string): Promise<Encoder>;
  /** How long an alias read is trusted, in ms (default 1000). */
  checkMs?: number;
}

const RETRY_FAILED_MS = 30_000;

interface Version {
  served: ServedModel;
  /** Queries using it now. */
  users: number;
  /** Replaced by a newer version: closed when its last query ends. */
  retired: boolean;
  close(): Promise<void>;
}

export class ModelAlias {
  private current: Version | undefined;
  private resolving: Promise<Version> | undefined;
  /** A newer version being loaded while the current one answers. */
  private loading: { collection: string; promise: Promise<void> } | undefined;
  private checking: Promise<void> | undefined;
  /** A version that failed to load is tried again only after RETRY_FAILED_MS. */
  private failed: { collection: string; at: number } | undefined;
  private checkedAt = 0;
  private closed = false;
  private readonly checkMs: number;

  constructor(private readonly options: ModelAliasOptions) {
    this.checkMs = options.checkMs ?? 1000;
  }

  /** Runs `fn` with the version the alias points at; that version stays loaded until `fn` settles. */
  async use<T>(fn: (served: ServedModel) => Promise<T>): Promise<T> {
    const version = await this.version();
    version.users++;
    try {
      return await fn(version.served);
    } finally {
      version.users--;
      if (version.retired && version.users === 0) void version.close();
    }
  }

  /** The version queries are answered with now. */
  async model(): Promise<ModelContext> {
    return (await this.version()).served.model;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.checking;
    await this.loading?.promise.catch(() => {});
    const version = this.current;
    this.current = undefined;
    await version?.close();
  }

  private async version(): Promise<Version> {
    if (this.closed) throw new FeverError('RUNTIME_CLOSED', 'the runtime is closed');
    if (!this.current) {
      this.resolving ??= this.resolve().finally(() => {
        this.resolving = undefined;
      });
      const resolved = await this.resolving;
      this.current ??= resolved;
      this.checkedAt = Date.now();
    } else if (Date.now() - this.checkedAt >= this.checkMs) {
      this.checkedAt = Date.now();
      // Not awaited: a vector store that is slow or down must not hold the query a second time
      // (its own call reports that); the next query sees where the alias points.
      this.checking ??= this.follow(this.current).finally(() => {
        this.checking = undefined;
      });
    }
    return this.current;
  }

  /**
   * Reads the alias; when it has moved, starts loading the version it points at now. The current
   * version answers until that one is ready.
   */
  private async follow(current: Version): Promise<void> {
    let own: ModelContext;
    let target: string;
    try {
      own = await this.options.own();
      target = (await this.options.vectors.getAlias(own.alias)) ?? own.vectorCollection;
    } catch (err) {
      // The store's own errors reach the query that uses it; the alias is read again next time.
      this.options.logger.debug({ err }, 'cannot read the model alias now');
      return;
    }
    if (target === current.served.model.vectorCollection || this.loading?.collection === target) return;
    if (this.failed?.collection === target && Date.now() - this.failed.at < RETRY_FAILED_MS) return;
    const promise = this.load(own, target).then(
      (next) => {
        if (this.closed || this.current !== current) return void next.close();
        this.current = next;
        this.options.logger.info(
          {
            alias: own.alias,
            from: `${current.served.model.id}@${current.served.model.version}`,
            to: `${next.served.model.id}@${next.served.model.version}`,
          },
          'the model alias moved: searches use the new version now',
        );
        current.retired = true;
        if (current.users === 0) void current.close();
      },
      (err: unknown) => {
        this.failed = { collection: target, at: Date.now() };
        this.options.logger.error(
          { err, alias: own.alias, collection: target },
          'the model alias moved, but its version cannot be loaded: searches keep the version they had',
        );
      },
    );
    const loading = {
      collection: target,
      promise: promise.finally(() => {
        if (this.loading === loading) this.loading = undefined;
      }),
    };
    this.loading = loading;
  }

  private async resolve(): Promise<Version> {
    const own = await this.options.own();
    const target = (await this.options.vectors.getAlias(own.alias)) ?? own.vectorCollection;
    return this.load(own, target);
  }

  /** The version whose vector collection is `collection`: the own one, or a registered one. */
  private async load(own: ModelContext, collection: string): Promise<Version> {
    if (collection === own.vectorCollection) {
      return version({ model: own, encoder: this.options.ownEncoder }, async () => {});
    }
    // A version of this model, or of the model it replaces (their manifests share the alias).
    const rows = await this.options.metadata.models.list();
    const row = rows.find((m) => {
      const context = modelContext(m);
      return context.alias === own.alias && context.vectorCollection === collection;
    });
    if (!row) {
      throw new FeverError(
        'MODEL_UNAVAILABLE',
        `the alias ${own.alias} points at the vector collection ${collection}, which no registered model version sharing that alias owns`,
        { status: 503 },
      );
    }
    const model = modelContext(row);
    const unavailable = (why: string, cause?: unknown) =>
      new FeverError(
        'MODEL_UNAVAILABLE',
        `searches go through the alias ${own.alias} to ${model.id}@${model.version}, whose model cannot be loaded here: ${why} ` +
          `(make that manifest readable here, or finish re-indexing with ${own.id}@${own.version})`,
        { status: 503, cause },
      );
    // A version registered before manifest paths were recorded is looked for among the bundled models.
    const manifestPath = row.manifestPath ?? bundledManifestPath(row.id);
    const encoder = await this.options.openEncoder(manifestPath).catch((err: unknown) => {
      throw unavailable(`${manifestPath}: ${(err as Error).message}`, err);
    });
    if (encoder.model.id !== model.id || encoder.model.version !== model.version) {
      await encoder.close();
      throw unavailable(
        `${manifestPath} now holds ${encoder.model.id}@${encoder.model.version}, not ${model.version}`,
      );
    }
    this.options.logger.info(
      { model: `${model.id}@${model.version}`, own: `${own.id}@${own.version}`, alias: own.alias },
      `searches use ${model.id}@${model.version}, the version the alias points at (this process indexes with ${own.version})`,
    );
    return version({ model, encoder: async () => encoder }, () => encoder.close());
  }
}

function version(served: ServedModel, close: () => Promise<void>): Version {
  let closing: Promise<void> | undefined;
  return {
    served,
    users: 0,
    retired: false,
    close() {
      closing ??= close();
      return closing;
    },
  };
}
