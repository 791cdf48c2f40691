import { InputError } from '@fever/errors';
import type { IndexRun, MetadataStore } from '@fever/metadata';
import { type Config, RUN_STATUSES, type RunStatus } from '@fever/schema';
import type { Command } from 'commander';
import { doneCount, formatDuration, throughput } from '../run-progress.ts';
import { print } from '../terminal.ts';
import { intFlag } from './indexing-flags.ts';

async function withMetadata<T>(config: Config, fn: (metadata: MetadataStore) => Promise<T>): Promise<T> {
  // Metadata only: listing runs loads neither the encoder nor the vector store.
  const { metadataOptionsFromConfig, openMetadataStore } = await import('@fever/metadata');
  const metadata = await openMetadataStore(metadataOptionsFromConfig(config));
  try {
    return await fn(metadata);
  } finally {
    await metadata.close();
  }
}

function seconds(run: IndexRun): number | undefined {
  if (!run.startedAt) return undefined;
  return ((run.finishedAt?.valueOf() ?? Date.now()) - run.startedAt.valueOf()) / 1000;
}

export function registerRuns(program: Command, config: () => Config): void {
  program
    .command('runs')
    .description('list index runs, newest first')
    .option('--collection <name>', 'only runs of this collection')
    .option('--status <status>', RUN_STATUSES.join(' | '))
    .option('--limit <n>', 'how many', '20')
    .option('--json', 'print JSON')
    .action(async (flags: { collection?: string; status?: string; limit: string; json?: boolean }) => {
      const limit = intFlag('limit', flags.limit, 1, 1000)!;
      const status = flags.status as RunStatus | undefined;
      if (status !== undefined && !(RUN_STATUSES as readonly string[]).includes(status)) {
        throw new InputError(
          'BAD_FLAG',
          `--status must be one of ${RUN_STATUSES.join(', ')}, got '${flags.status}'`,
        );
      }
      await withMetadata(config(), async (metadata) => {
        const collection = flags.collection
          ? await metadata.collections.require(flags.collection)
          : undefined;
        const runs = await metadata.indexRuns.list({
          ...(collection ? { collectionId: collection.id } : {}),
          ...(status ? { status } : {}),
          limit,
        });
        const names = new Map((await metadata.collections.list()).map((c) => [c.id, c.name]));
        if (flags.json) {
          print(
            JSON.stringify(
              runs.map((r) => ({ ...r, collection: names.get(r.collectionId) })),
              null,
              2,
            ),
          );
          return;
        }
        if (runs.length === 0) {
          print('no index runs yet: fever index <folder> --collection NAME');
          return;
        }
        const rows = runs.map((r) => {
          const rate = throughput(r);
          const s = seconds(r);
          return [
            r.id,
            names.get(r.collectionId) ?? String(r.collectionId),
            r.status,
            `${doneCount(r)}/${r.imagesSeen}${r.discoveredAt ? '' : '+'}`,
            String(r.imagesIndexed),
            String(r.imagesSkipped),
            String(r.imagesFailed),
            String(r.facesIndexed),
            rate === undefined ? '' : rate.toFixed(1),
            s === undefined ? '' : formatDuration(s),
            r.createdAt.toISOString().replace('T', ' ').slice(0, 19),
          ];
        });
        printTable(
          [
            'run',
            'collection',
            'status',
            'done',
            'indexed',
            'skipped',
            'failed',
            'faces',
            'img/s',
            'time',
            'created',
          ],
          rows,
        );
      });
    });

  program
    .command('run')
    .description('show one index run: counts, throughput, stage times and failures with their reasons')
    .argument('<id>', 'run id (from `fever runs`)')
    .option('--failures <n>', 'failures to list', '50')
    .option('--json', 'print JSON (the run and its failures)')
    .action(async (id: string, flags: { failures: string; json?: boolean }) => {
      const limit = intFlag('failures', flags.failures, 0, 100_000)!;
      await withMetadata(config(), async (metadata) => {
        const run = await metadata.indexRuns.require(id);
        const collection = await metadata.collections.getById(run.collectionId);
        const failures =
          limit > 0 ? await metadata.indexing.listEntries(id, { outcome: 'failed', limit }) : [];
        const ledger = await metadata.indexing.countEntries(id);
        if (flags.json) {
          print(JSON.stringify({ run: { ...run, collection: collection?.name }, ledger, failures }, null, 2));
          return;
        }
        const s = seconds(run);
        const rate = throughput(run);
        const facesPerSec = s && s > 0 ? run.facesIndexed / s : undefined;
        const params = run.params as Record<string, unknown>;
        const lines: [string, string][] = [
          ['run', run.id],
          ['status', run.status + (run.errorCode ? ` (${run.errorCode}: ${run.errorMessage})` : '')],
          ['collection', collection?.name ?? String(run.collectionId)],
          ['source', run.source ?? ''],
          ['model', `${run.modelId}@${run.modelVersion}`],
          [
            'mode',
            `${params.mode ?? 'missing'}, batch ${params.batch ?? '?'}, ${params.queue ?? 'inprocess'}`,
          ],
          ['discovered', `${run.imagesSeen}${run.discoveredAt ? '' : ' so far (still walking the source)'}`],
          ['indexed', String(run.imagesIndexed)],
          ['skipped', `${run.imagesSkipped} (already embedded or duplicate content)`],
          ['failed', String(run.imagesFailed)],
          ['pending', String(ledger.pending)],
          ['faces', String(run.facesIndexed)],
          [
            'throughput',
            rate === undefined
              ? ''
              : `${rate.toFixed(1)} images/s, ${facesPerSec?.toFixed(1) ?? '?'} faces/s over ${formatDuration(s ?? 0)}`,
          ],
          [
            'stage time',
            `decode ${(run.decodeMs / 1000).toFixed(1)} s, detect+embed ${((run.detectMs + run.embedMs) / 1000).toFixed(1)} s, write ${(run.writeMs / 1000).toFixed(1)} s (summed over workers)`,
          ],
          ['started', run.startedAt?.toISOString() ?? ''],
          ['finished', run.finishedAt?.toISOString() ?? ''],
        ];
        for (const [k, v] of lines) print(`${k.padEnd(11)} ${v}`);
        if (failures.length > 0) {
          print(
            `failures${run.imagesFailed > failures.length ? ` (first ${failures.length} of ${run.imagesFailed})` : ''}:`,
          );
          for (const f of failures) print(`  ${f.uri}: ${f.errorMessage} [${f.errorCode}]`);
        }
      });
    });
}

function printTable(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  print(line(head));
  for (const r of rows) print(line(r));
}
