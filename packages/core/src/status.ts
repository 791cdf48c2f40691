/** How a serving process is doing: whether it can answer, and which model versions it knows. */
import type { Model } from '@fever/metadata';
import type { ReadyResponse } from '@fever/schema';
import { pingRedis } from './redis-probe.ts';
import type { ServingRuntime } from './runtime.ts';

const CHECK_TIMEOUT_MS = 2000;

export class StatusService {
  constructor(private readonly runtime: ServingRuntime) {}

  /** Database, vector store, queue and model, each checked within 2 s. */
  async readiness(): Promise<ReadyResponse> {
    const { runtime } = this;
    const [metadata, vectors, queue, model] = await Promise.all([
      check(async () => {
        await runtime.metadata.ping();
        return runtime.mode.metadata;
      }),
      check(async () => {
        await runtime.vectors.listAliases();
        return runtime.mode.vectors;
      }),
      check(async () => {
        if (!runtime.config.redisUrl) return 'in-process';
        await pingRedis(runtime.config.redisUrl, CHECK_TIMEOUT_MS);
        return 'redis';
      }),
      check(() =>
        // The version searches answer with, its encoder loaded.
        runtime.serving.use(async ({ model, encoder }) => {
          await encoder();
          return `${model.id}@${model.version}`;
        }),
      ),
    ]);
    const checks = { metadata, vectors, queue, model };
    const ready = Object.values(checks).every((x) => x.ok);
    return { status: ready ? 'ready' : 'unavailable', mode: runtime.mode, checks };
  }

  /** The registered model versions; `active` is the one searches use (the one its alias points at). */
  async models(): Promise<(Model & { active: boolean })[]> {
    const active = await this.runtime.serving.model();
    return (await this.runtime.metadata.models.list()).map((m) => ({
      ...m,
      active: m.id === active.id && m.version === active.version,
    }));
  }
}

async function check(
  fn: () => Promise<string | undefined>,
): Promise<{ ok: boolean; ms: number; detail?: string }> {
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const detail = await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
    return { ok: true, ms: Math.round(performance.now() - start), ...(detail ? { detail } : {}) };
  } catch (err) {
    return { ok: false, ms: Math.round(performance.now() - start), detail: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}
