/**
 * A process that deletes a collection and stops dead at one point of the delete, so that its
 * parent can SIGKILL it there: `marked` (the marker is written), `swept` (the vectors are gone,
 * the metadata is not), `deleted` (the metadata is gone, the second sweep has not run).
 */
import { parseConfig } from '@fever/schema';
import { CollectionService } from './collections.ts';
import { createLogger } from './logger.ts';
import { openRuntime } from './runtime.ts';

const [dataDir, point, name] = process.argv.slice(2) as [string, 'marked' | 'swept' | 'deleted', string];
const runtime = await openRuntime(parseConfig({ FEVER_DATA_DIR: dataDir, FEVER_DEVICE: 'cpu' }), {
  logger: createLogger('silent'),
});

/** Runs `step`, then reports and waits for the kill. */
function stopAfter<A extends unknown[], R>(step: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args) => {
    await step(...args);
    process.stdout.write(`stopped after ${point}\n`);
    return new Promise<R>(() => {});
  };
}

const { metadata, vectors } = runtime;
if (point === 'marked')
  metadata.collections.markDeleting = stopAfter(metadata.collections.markDeleting.bind(metadata.collections));
if (point === 'swept') vectors.deleteByFilter = stopAfter(vectors.deleteByFilter.bind(vectors));
if (point === 'deleted')
  metadata.collections.delete = stopAfter(metadata.collections.delete.bind(metadata.collections));
await new CollectionService(runtime).delete(name);
process.stdout.write('deleted without stopping\n');
