import { spawn } from 'node:child_process';
import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TransientError } from '@fever/errors';
import { describe, expect, it } from 'vitest';
import { randomUnitVectors, testId } from '../testing/random.ts';
import { EmbeddedVectorStore } from './store.ts';
import { points, tempDir } from './test-helpers.ts';

describe('embedded store durability', () => {
  it('keeps every acknowledged write through a SIGKILL, and survives a torn log tail', async () => {
    const dir = tempDir();
    const dims = 32;
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        fileURLToPath(new URL('./crash-writer.fixture.ts', import.meta.url)),
        dir,
        String(dims),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const acked = await new Promise<number>((resolve, reject) => {
      let last = 0;
      child.stdout.on('data', (chunk: Buffer) => {
        for (const m of chunk.toString().matchAll(/acked (\d+)/g)) last = Number(m[1]);
        if (last >= 5) {
          child.kill('SIGKILL');
          resolve(last);
        }
      });
      child.on('exit', (code, signal) => signal !== 'SIGKILL' && reject(new Error(`writer exited ${code}`)));
    });
    await new Promise((resolve) => child.once('close', resolve));

    // A crash during an append leaves a partial record at the end of the log.
    const colDir = join(dir, 'collections', 'crash');
    const wal = readdirSync(colDir).find((f) => f.startsWith('wal-'))!;
    appendFileSync(join(colDir, wal), Buffer.from([0x46, 0x56, 0x57, 0x31, 0xff, 0xff, 0, 0, 1, 2, 3]));

    // The dead writer's LOCK is stale: taken over.
    const store = await EmbeddedVectorStore.open({ dir });
    const ackedIds = Array.from({ length: acked * 100 }, (_, i) => testId(i));
    const deleted = new Set(Array.from({ length: acked }, (_, b) => (b % 3 === 2 ? testId(b * 100) : '')));
    const got = await store.get('crash', ackedIds);
    expect(got.length).toBe(ackedIds.filter((id) => !deleted.has(id)).length);
    const count = await store.count('crash');
    expect(count).toBeGreaterThanOrEqual(got.length); // a batch after the last ack may be in too
    const probe = got[7]!;
    expect((await store.search('crash', probe.vector, { k: 1 }))[0]!.id).toBe(probe.id);
    await store.upsert('crash', [{ ...probe, id: testId(9_999_999) }]);
    await store.close();

    const again = await EmbeddedVectorStore.open({ dir });
    expect(await again.count('crash')).toBe(count + 1);
    await again.close();
  }, 60_000);

  it('lets one process at a time open a directory', async () => {
    const dir = tempDir();
    const store = await EmbeddedVectorStore.open({ dir });
    const second = EmbeddedVectorStore.open({ dir });
    await expect(second).rejects.toBeInstanceOf(TransientError);
    await expect(second).rejects.toMatchObject({ code: 'VECTORS_LOCKED' });
    await store.close();
    await (await EmbeddedVectorStore.open({ dir })).close(); // released on close
  });

  it('rolls snapshots over atomically and keeps one generation on disk', async () => {
    const dir = tempDir();
    const dims = 16;
    const data = randomUnitVectors(600, dims, 3);
    const store = await EmbeddedVectorStore.open({ dir, snapshotMinLogBytes: 1, batchSize: 100 });
    await store.ensureCollection({ name: 'gen', dims, distance: 'cosine' });
    await store.upsert('gen', points(data, dims, 0, 600));
    await store.deleteByImage('gen', 'img-5');
    const files = readdirSync(join(dir, 'collections', 'gen')).sort();
    expect(files.filter((f) => f.startsWith('snap-'))).toHaveLength(1);
    expect(files.filter((f) => f.startsWith('wal-'))).toHaveLength(1);
    await store.close();
    const reopened = await EmbeddedVectorStore.open({ dir });
    expect(await reopened.count('gen')).toBe(599);
    expect(await reopened.get('gen', [testId(5)])).toEqual([]);
    await reopened.close();
  });

  // Found by the OpenAPI fuzz run: DELETE /collections/{name} emptied the model's collection and
  // the next `fever serve` aborted (glibc heap corruption inside usearch's load).
  it('reopens a collection whose every point was deleted, and takes new points', async () => {
    const dir = tempDir();
    const dims = 256;
    const all = points(randomUnitVectors(21, dims, 3), dims, 0, 21);
    const store = await EmbeddedVectorStore.open({ dir });
    await store.ensureCollection({ name: 'emptied', dims, distance: 'cosine' });
    await store.upsert('emptied', all);
    await store.deleteByIds(
      'emptied',
      all.map((p) => p.id),
    );
    await store.close(); // writes the snapshot of the emptied collection

    const again = await EmbeddedVectorStore.open({ dir });
    expect(await again.count('emptied')).toBe(0);
    await again.upsert('emptied', all.slice(0, 3));
    expect((await again.search('emptied', all[1]!.vector, { k: 1 }))[0]!.id).toBe(all[1]!.id);
    await again.close();
  });
});
