import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { samplePhotos } from '@fever/encoder/testing';
import { parseConfig } from '@fever/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CollectionService } from './collections.ts';
import { startIndexRun, waitForRun } from './indexing/index.ts';
import { createLogger } from './logger.ts';
import { openRuntime, type Runtime, type ServingRuntime } from './runtime.ts';

const CRASHER = fileURLToPath(new URL('./delete-crash.fixture.ts', import.meta.url));
const PHOTOS = 3;

let root: string;
let template: string;
let photos: string;

const open = (dataDir: string) =>
  openRuntime(parseConfig({ FEVER_DATA_DIR: dataDir, FEVER_DEVICE: 'cpu', FEVER_LOG_LEVEL: 'silent' }), {
    logger: createLogger('silent'),
  });

async function index(runtime: Runtime, collection: string) {
  const { runId } = await startIndexRun(runtime, { source: photos, collection });
  return waitForRun(runtime, runId, { intervalMs: 100 });
}

/** What is left of `name`: listed or not, its images, faces and vectors. */
async function remains(runtime: ServingRuntime, name: string, id: number) {
  const model = await runtime.model();
  return {
    listed: (await runtime.metadata.collections.list()).some((c) => c.name === name),
    images: Object.values(await runtime.metadata.images.countByStatus(id)).reduce((a, b) => a + b, 0),
    faces: await runtime.metadata.faces.count({ collectionId: id }),
    vectors: await runtime.vectors.count(model.vectorCollection, { collections: [name] }),
  };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fever-delete-'));
  photos = join(root, 'photos');
  template = join(root, 'template');
  await mkdir(photos);
  for (const [i, photo] of samplePhotos().slice(0, PHOTOS).entries()) {
    await writeFile(join(photos, `${i}.jpg`), await readFile(photo));
  }
  const runtime = await open(template);
  try {
    const run = await index(runtime, 'doomed');
    expect(run).toMatchObject({ status: 'succeeded', imagesIndexed: PHOTOS });
    await index(runtime, 'kept');
  } finally {
    await runtime.close();
  }
}, 180_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('deleting a collection', () => {
  it.each(['marked', 'swept', 'deleted'] as const)(
    'killed (SIGKILL) once %s, is finished when fever next opens, and the collection can be indexed anew',
    async (point) => {
      const dataDir = join(root, point);
      await cp(template, dataDir, { recursive: true });
      const before = await open(dataDir);
      const doomed = (await before.metadata.collections.require('doomed')).id;
      const kept = (await before.metadata.collections.require('kept')).id;
      const keptBefore = await remains(before, 'kept', kept);
      expect((await remains(before, 'doomed', doomed)).faces).toBeGreaterThan(0);
      await before.close();

      const child = spawn(process.execPath, ['--import', 'tsx', CRASHER, dataDir, point, 'doomed'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('stopped after')) resolve();
        });
        child.once('exit', () => reject(new Error(`the deleting process exited by itself: ${out}`)));
      });
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('close', resolve));

      const after = await open(dataDir);
      try {
        expect(await remains(after, 'doomed', doomed)).toEqual({
          listed: false,
          images: 0,
          faces: 0,
          vectors: 0,
        });
        expect(await remains(after, 'kept', kept)).toEqual(keptBefore);
        // Indexed anew from scratch: every image embedded again, not skipped as already there.
        const again = await index(after, 'doomed');
        expect(again).toMatchObject({ status: 'succeeded', imagesIndexed: PHOTOS, imagesSkipped: 0 });
        const id = (await after.metadata.collections.require('doomed')).id;
        const fresh = await remains(after, 'doomed', id);
        expect(fresh.vectors).toBe(fresh.faces);
        // A delete now runs to the end.
        await new CollectionService(after).delete('doomed');
        expect(await remains(after, 'doomed', id)).toEqual({
          listed: false,
          images: 0,
          faces: 0,
          vectors: 0,
        });
      } finally {
        await after.close();
      }
    },
    180_000,
  );
});
