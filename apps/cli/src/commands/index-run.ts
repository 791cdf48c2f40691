import type { IndexMode } from '@fever/core';
import { InputError } from '@fever/errors';
import type { IndexRun, MetadataStore } from '@fever/metadata';
import { type Config, detectorChoice, runtimeMode } from '@fever/schema';
import type { Command } from 'commander';
import { doneCount, formatDuration, RunProgress, throughput } from '../run-progress.ts';
import { print, printError } from '../terminal.ts';
import { indexingLogger, intFlag } from './indexing-flags.ts';

interface IndexFlags {
  collection: string;
  mode: string;
  batch?: string;
  concurrency?: string;
  device?: string;
  threads?: string;
  detector?: string;
  detach?: boolean;
  json?: boolean;
  /** commander's negation of --no-identity: false when given. */
  identity: boolean;
}

export function registerIndex(program: Command, config: () => Config): void {
  program
    .command('index')
    .description('index the faces of a folder, archive or list of photos into a collection (resumable)')
    .argument(
      '<source>',
      'a directory, a .zip / .tar / .tar.gz archive, a text file with one path per line, or an image',
    )
    .requiredOption('--collection <name>', 'the collection to index into (created if missing)')
    .option(
      '--mode <mode>',
      'missing: only images not yet embedded by this model version; all: re-embed everything',
      'missing',
    )
    .option('--batch <n>', 'images per batch: detection and embedding run batched across them (default 16)')
    .option('--concurrency <n>', 'batches in flight (default 2)')
    .option('--device <device>', 'auto | cpu | cuda (default: FEVER_DEVICE or auto)')
    .option('--threads <n>', 'onnxruntime threads, 0 = one per core (default: FEVER_THREADS)')
    .option(
      '--detector <name>',
      'tiny | tiny-608 | ssd | a detector manifest (default: FEVER_DETECTOR or tiny)',
    )
    .option(
      '--no-identity',
      'a new collection stores no identity descriptors (no people, no person-aware search); default: it does',
    )
    .option('--detach', 'with REDIS_URL: queue the run for the workers and return at once')
    .option('--json', 'print the finished run as JSON')
    .action(async (source: string, flags: IndexFlags) => {
      if (flags.mode !== 'missing' && flags.mode !== 'all') {
        throw new InputError('BAD_FLAG', `--mode must be missing or all, got '${flags.mode}'`);
      }
      const batch = intFlag('batch', flags.batch, 1, 256);
      const concurrency = intFlag('concurrency', flags.concurrency, 1, 64);
      const threads = intFlag('threads', flags.threads, 0, 1024);
      const cfg = config();
      const mode = runtimeMode(cfg);
      const { explainDriverCrashes, openRuntime, startIndexRun, stopIndexing, waitForRun } = await import(
        '@fever/core'
      );
      const runtime = await openRuntime(cfg, {
        logger: await indexingLogger(cfg),
        encoder: {
          ...(flags.device ? { device: flags.device as 'auto' | 'cpu' | 'cuda' } : {}),
          ...(threads === undefined ? {} : { threads }),
          ...(flags.detector === undefined
            ? {}
            : { detectorModel: detectorChoice(flags.detector, process.cwd()) }),
        },
        // Under BullMQ the workers write the vectors; this process only starts and follows the run.
        vectors: mode.queue === 'bullmq' ? 'none' : 'open',
      });
      const unwatch = explainDriverCrashes(runtime.logger, 'run the same command again to resume the run');
      const stopping = new AbortController();
      let signals = 0;
      const onSignal = () => {
        signals++;
        if (signals > 1) {
          process.stderr.write('\nfever: second signal, exiting now\n');
          process.exit(130);
        }
        stopping.abort();
        process.stderr.write(
          mode.queue === 'bullmq'
            ? '\nfever: no longer following the run; the workers carry on\n'
            : '\nfever: stopping: finishing the images in hand (again to exit now); run the same command to resume\n',
        );
        if (mode.queue === 'inprocess') void stopIndexing(runtime);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const where =
          mode.queue === 'bullmq'
            ? 'on the BullMQ workers (`fever worker`)'
            : 'in this process (no REDIS_URL)';
        printError(
          `fever: indexing ${source} into '${flags.collection}' ${where}; metadata ${mode.metadata}, vectors ${mode.vectors}`,
        );
        const started = await startIndexRun(runtime, {
          source,
          collection: flags.collection,
          mode: flags.mode as IndexMode,
          // Only an explicit --no-identity is checked against an existing collection.
          ...(flags.identity ? {} : { identity: false }),
          ...(batch === undefined ? {} : { batch }),
          ...(concurrency === undefined ? {} : { concurrency }),
        });
        printError(`fever: run ${started.runId}${started.resumed ? ' (resuming an unfinished run)' : ''}`);
        if (flags.detach && started.queue === 'bullmq') {
          print(started.runId);
          return;
        }
        const progress = new RunProgress(process.stderr);
        let hinted = false;
        const t0 = Date.now();
        const run = await waitForRun(runtime, started.runId, {
          signal: stopping.signal,
          onProgress: (r) => {
            progress.update(r);
            if (started.queue === 'bullmq' && !hinted && doneCount(r) === 0 && Date.now() - t0 > 15_000) {
              hinted = true;
              process.stderr.write(
                '\nfever: no progress yet: is a worker running? (`fever worker` with the same env)\n',
              );
            }
          },
        });
        progress.finish(run);
        await stopIndexing(runtime);
        const final = await runtime.metadata.indexRuns.require(run.id);
        if (flags.json) print(JSON.stringify(final, null, 2));
        else await printSummary(runtime.metadata, final, flags.collection);
        if (final.status === 'failed') process.exitCode = 1;
        else if (final.status !== 'succeeded') process.exitCode = 130;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        unwatch();
        await stopIndexing(runtime);
        await runtime.close();
      }
    });
}

export async function printSummary(
  metadata: MetadataStore,
  run: IndexRun,
  collection: string,
): Promise<void> {
  const seconds = run.startedAt
    ? ((run.finishedAt?.valueOf() ?? Date.now()) - run.startedAt.valueOf()) / 1000
    : 0;
  const rate = throughput(run);
  print(
    `run ${run.id} ${run.status}${run.finishedAt ? ` in ${formatDuration(seconds)}` : ''}: ` +
      `${run.imagesSeen} images (${run.imagesIndexed} indexed, ${run.imagesSkipped} skipped, ${run.imagesFailed} failed), ` +
      `${run.facesIndexed} faces${rate === undefined ? '' : `, ${rate.toFixed(1)} images/s`}`,
  );
  if (run.errorCode) print(`error: ${run.errorMessage} [${run.errorCode}]`);
  if (run.imagesFailed > 0) {
    const failures = await metadata.indexing.listEntries(run.id, { outcome: 'failed', limit: 10 });
    print(
      `failures (${run.imagesFailed}${run.imagesFailed > failures.length ? `, first ${failures.length}` : ''}):`,
    );
    for (const f of failures) print(`  ${f.uri}: ${f.errorMessage} [${f.errorCode}]`);
    if (run.imagesFailed > failures.length) print(`  … all of them: fever run ${run.id}`);
  }
  const target = await metadata.collections.getById(run.collectionId);
  if (target && !target.identityDescriptors) {
    print(
      `collection '${collection}' is indexed without identity descriptors: no people, no person-aware search`,
    );
  }
  if (run.status === 'succeeded') {
    print(`next: fever search <photo with a face> --collection ${collection}`);
  } else if (run.status === 'running') {
    print('the run is unfinished: run the same command again to resume it');
  }
}
