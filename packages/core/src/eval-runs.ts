/**
 * FEC evaluations of this process's model, as a server runs them: queued in this process and run
 * one at a time (they are CPU-bound), stored in eval_runs (params, headline metrics, and the full
 * result as the report). Their paths must lie under FEVER_INDEX_ROOTS, as must every path the
 * triplets and the map name.
 */
import { FeverError, InputError, isFeverError } from '@fever/errors';
import { processTag, realRoots } from '@fever/files';
import type { EvalRun } from '@fever/metadata';
import type { RunStatus, StartFecEvalRequest } from '@fever/schema';
import { allowedSource } from './access.ts';
import type { ServingRuntime } from './runtime.ts';

export interface EvalProgress {
  phase: string;
  done: number;
  total: number;
}

/** A run, with how far it is while it runs in this process. */
export interface EvalRunView extends EvalRun {
  progress: EvalProgress | null;
}

export class EvalRunService {
  private readonly progress = new Map<string, EvalProgress>();
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly runtime: ServingRuntime,
    private readonly options: { roots: readonly string[] },
  ) {}

  /** Queues an FEC evaluation; it starts once the ones before it have finished. */
  async start(request: StartFecEvalRequest): Promise<EvalRunView> {
    const { runtime } = this;
    const { roots } = this.options;
    const triplets = await allowedSource(request.triplets, roots);
    if (request.images === undefined && request.map === undefined) {
      throw new InputError(
        'IMAGES_SOURCE_MISSING',
        'give `images` (a folder of the images) or `map` (a url,path CSV), or both',
      );
    }
    const images = request.images === undefined ? undefined : await allowedSource(request.images, roots);
    const map = request.map === undefined ? undefined : await allowedSource(request.map, roots);
    const within = await realRoots(roots);
    const model = await runtime.model();
    const run = await runtime.metadata.evalRuns.create({
      modelId: model.id,
      modelVersion: model.version,
      // The runner names this process: a run it leaves unfinished is failed when fever next starts.
      params: { kind: 'fec', ...request, triplets, images, map, runner: processTag() },
    });
    const log = runtime.logger.child({ evalRunId: run.id });
    log.info({ triplets }, 'eval run queued');
    this.queue = this.queue.then(async () => {
      try {
        await runtime.metadata.evalRuns.update(run.id, { status: 'running' });
        const { runFecEval } = await import('@fever/eval');
        const { config } = runtime;
        const result = await runFecEval({
          triplets,
          ...(images ? { images } : {}),
          ...(map ? { map } : {}),
          within,
          models: [config.modelManifest],
          ...(request.distance ? { distance: request.distance } : {}),
          ...(request.outputs ? { outputs: request.outputs } : {}),
          ...(request.bootstrapSamples === undefined ? {} : { bootstrapSamples: request.bootstrapSamples }),
          ...(request.seed === undefined ? {} : { seed: request.seed }),
          ...(request.gallerySize === undefined ? {} : { gallerySize: request.gallerySize }),
          maxPixels: config.maxPixels,
          encoder: { device: config.device, threads: config.threads ?? 0 },
          onProgress: (p) => this.progress.set(run.id, { phase: p.phase, done: p.done, total: p.total }),
        });
        await runtime.metadata.evalRuns.update(run.id, {
          status: 'succeeded',
          metrics: result.metrics as unknown as Record<string, unknown>,
          report: result as unknown as Record<string, unknown>,
        });
        log.info({ ms: result.timings.totalMs }, 'eval run succeeded');
      } catch (err) {
        log.error({ err }, 'eval run failed');
        await runtime.metadata.evalRuns
          .update(run.id, {
            status: 'failed',
            errorCode: isFeverError(err) ? err.code : 'EVAL_FAILED',
            errorMessage: (err as Error).message,
          })
          .catch((e: unknown) => log.error({ err: e }, 'could not record the eval failure'));
      } finally {
        this.progress.delete(run.id);
      }
    });
    return this.view(run);
  }

  async list(filter: { status?: RunStatus; limit: number }): Promise<EvalRunView[]> {
    const runs = await this.runtime.metadata.evalRuns.list({
      ...(filter.status ? { status: filter.status } : {}),
      limit: filter.limit,
    });
    return runs.map((run) => this.view(run));
  }

  /** One run (404 EVAL_RUN_NOT_FOUND). */
  async get(id: string): Promise<EvalRunView> {
    const run = await this.runtime.metadata.evalRuns.get(id);
    if (!run) throw new FeverError('EVAL_RUN_NOT_FOUND', `eval run ${id} does not exist`, { status: 404 });
    return this.view(run);
  }

  /** The self-contained HTML report of a finished run (409 EVAL_RUN_NOT_FINISHED before). */
  async report(id: string): Promise<string> {
    const run = await this.get(id);
    if (run.status !== 'succeeded' || !run.report) {
      throw new FeverError(
        'EVAL_RUN_NOT_FINISHED',
        `eval run ${run.id} is ${run.status}; its report exists once it has succeeded`,
        { status: 409 },
      );
    }
    const { renderReportHtml } = await import('@fever/eval');
    return renderReportHtml(run.report as unknown as Parameters<typeof renderReportHtml>[0]);
  }

  private view(run: EvalRun): EvalRunView {
    return { ...run, progress: this.progress.get(run.id) ?? null };
  }
}
