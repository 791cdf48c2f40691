import { InputError } from '@fever/errors';
import type { Config } from '@fever/schema';
import type { Command } from 'commander';
import { intFlag } from './indexing-flags.ts';

export function registerWorker(program: Command, config: () => Config): void {
  program
    .command('worker')
    .description(
      'serve the index queues on REDIS_URL (run as many as you like, on any machine); stops cleanly on SIGTERM/SIGINT',
    )
    .option('--concurrency <n>', 'embed batches at once in this process (default 2)')
    .option(
      '--stages <list>',
      'stages to serve: discover,embed,write (default all; write only where the vector store opens)',
    )
    .option('--device <device>', 'auto | cpu | cuda (default: FEVER_DEVICE or auto)')
    .option('--threads <n>', 'onnxruntime threads, 0 = one per core (default: FEVER_THREADS)')
    .option('--lock-duration <ms>', 'a job whose worker died is retried after this long (default 30000)')
    .option('--stalled-interval <ms>', 'how often to look for jobs whose worker died (default 10000)')
    .option(
      '--metrics-port <port>',
      'serve Prometheus metrics on this port, 0 for any free one (default: FEVER_WORKER_METRICS_PORT, else none)',
    )
    .action(
      async (flags: {
        concurrency?: string;
        stages?: string;
        device?: string;
        threads?: string;
        lockDuration?: string;
        stalledInterval?: string;
        metricsPort?: string;
      }) => {
        const [{ STAGES }, { runWorker }] = await Promise.all([
          import('@fever/core'),
          import('@fever/indexer'),
        ]);
        const stages = flags.stages?.split(',').map((s) => s.trim());
        for (const s of stages ?? []) {
          if (!(STAGES as readonly string[]).includes(s)) {
            throw new InputError('BAD_FLAG', `--stages takes ${STAGES.join(', ')}, got '${s}'`);
          }
        }
        const threads = intFlag('threads', flags.threads, 0, 1024);
        const cfg = config();
        const concurrency = intFlag('concurrency', flags.concurrency, 1, 64);
        const lockDurationMs = intFlag('lock-duration', flags.lockDuration, 1000, 3_600_000);
        const stalledIntervalMs = intFlag('stalled-interval', flags.stalledInterval, 500, 3_600_000);
        const metricsPort = intFlag('metrics-port', flags.metricsPort, 0, 65535);
        await runWorker(cfg, {
          encoder: {
            ...(flags.device ? { device: flags.device as 'auto' | 'cpu' | 'cuda' } : {}),
            ...(threads === undefined ? {} : { threads }),
          },
          ...(stages ? { stages: stages as (typeof STAGES)[number][] } : {}),
          ...(concurrency === undefined ? {} : { concurrency }),
          ...(lockDurationMs === undefined ? {} : { lockDurationMs }),
          ...(stalledIntervalMs === undefined ? {} : { stalledIntervalMs }),
          ...(metricsPort === undefined ? {} : { metricsPort }),
        });
      },
    );
}
