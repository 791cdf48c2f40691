import { parseConfig } from '@fever/schema';
import { describe, expect, it } from 'vitest';
import { runWorker } from './worker.ts';

// The worker's life on real queues (signals, metrics port, graceful close) is tested through
// `fever worker` in test/indexing.
describe('runWorker', () => {
  it('refuses to start without Redis, and without Postgres to share runs through', async () => {
    await expect(runWorker(parseConfig({}))).rejects.toMatchObject({ code: 'WORKER_NEEDS_REDIS' });
    await expect(runWorker(parseConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }))).rejects.toMatchObject({
      code: 'QUEUE_NEEDS_POSTGRES',
    });
  });
});
