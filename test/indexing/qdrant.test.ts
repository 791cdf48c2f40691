/**
 * The scaled stack on a real Qdrant: Postgres + a private Redis + a private Qdrant server
 * (QDRANT_BIN: Qdrant is in no package registry; CI has none, and this file says it skipped),
 * two `fever worker` processes and `fever serve`.
 *
 * - end to end: the face-api samples and muxspace from a folder, and a zip; Postgres and Qdrant
 *   agree, searches answer, `--mode missing` writes nothing; a second model version re-indexes
 *   into its own collection and takes the alias over while searches keep answering;
 * - faults: Qdrant SIGKILLed mid-run and restarted 30 s later, then frozen (SIGSTOP) for 30 s
 *   mid-run: the run completes exactly once, and searches during both outages answer 503 with a
 *   JSON error, promptly.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { writeZip } from '@fever/core/testing';
import { samplePhotos, sharedData } from '@fever/encoder/testing';
import type { IndexRun, MetadataStore } from '@fever/metadata';
import { createTestDatabase, findTestPostgres, type TestDatabase } from '@fever/metadata/testing';
import { modelAliasName, modelCollectionName } from '@fever/vectors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  collectionState,
  distinctContents,
  type FeverProcess,
  fever,
  firstImages,
  freePort,
  openStores,
  PrivateRedis,
  removeQuietly,
  runFever,
  sleep,
  startWorker,
  stopProcess,
  type TestEnv,
  tempDir,
} from '../harness/harness.ts';
import { makeDistinctPhotos } from '../harness/photos.ts';
import { PrivateQdrant, qdrantBinary } from '../harness/qdrant.ts';

const qdrant = qdrantBinary();
if (qdrant.bin === undefined) console.warn(`Qdrant scaled-stack tests SKIPPED: ${qdrant.reason}`);
const mux = sharedData('muxspace');

/** `fever serve` on a free port of the env; resolves when /readyz says ready. */
async function serve(env: TestEnv): Promise<{ p: FeverProcess; url: string }> {
  const port = await freePort();
  const p = fever(['serve'], { ...env, vars: { ...env.vars, FEVER_PORT: String(port) } });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return { p, url };
    } catch {
      // not listening yet
    }
    if (p.proc.exitCode !== null) throw new Error(`fever serve exited:\n${p.output().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`fever serve not ready:\n${p.output().slice(-3000)}`);
    await sleep(250);
  }
}

const photo6 = () => readFileSync(samplePhotos()[5]!);

async function searchByPhoto(url: string, collection: string) {
  const res = await fetch(`${url}/search?k=5&collection=${collection}`, {
    method: 'POST',
    headers: { 'Content-Type': 'image/jpeg' },
    body: photo6(),
    signal: AbortSignal.timeout(60_000),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function latestRun(metadata: MetadataStore, collection: string): Promise<IndexRun> {
  const c = await metadata.collections.require(collection);
  const [run] = await metadata.indexRuns.list({ collectionId: c.id, limit: 1 });
  return run!;
}

describe.skipIf(qdrant.bin === undefined)('the scaled stack on a real Qdrant', () => {
  let q: PrivateQdrant;
  let redis: PrivateRedis;
  let pgAdmin: string;
  const dbs: TestDatabase[] = [];
  const roots: string[] = [];
  const procs: FeverProcess[] = [];

  beforeAll(async () => {
    const pg = await findTestPostgres();
    if (pg.url === undefined) throw new Error(`these tests need Postgres: ${pg.reason}`);
    pgAdmin = pg.url;
    q = await PrivateQdrant.start(qdrant.bin!);
    redis = new PrivateRedis(await freePort());
    await redis.start();
  }, 120_000);
  afterAll(async () => {
    await Promise.all(procs.map((p) => stopProcess(p, 'SIGKILL')));
    await redis?.kill();
    await q?.stop();
    for (const db of dbs) await db.drop();
    for (const r of roots) removeQuietly(r);
  });

  async function scaledEnv(name: string, vars: Record<string, string> = {}): Promise<TestEnv> {
    const db = await createTestDatabase(pgAdmin);
    dbs.push(db);
    const root = tempDir(name);
    roots.push(root);
    return {
      dataDir: join(root, 'data'),
      databaseUrl: db.url,
      redisUrl: redis.url,
      vars: { QDRANT_URL: q.url, FEVER_DEVICE: 'cpu', ...vars },
    };
  }

  describe.skipIf(!mux)('end to end: two workers, a folder and a zip', () => {
    let env: TestEnv;
    let folder: string;
    let files: string[];
    let zipFiles: string[];
    let zip: string;
    let firstIds: string[];
    let workers: FeverProcess[];

    beforeAll(async () => {
      // A single-file model, so that the version bump below is a copy of it under a new version.
      const { FACE_API_EXPRESSION_MANIFEST } = await import('@fever/encoder');
      env = await scaledEnv('qdrant-e2e', { FEVER_MODEL: FACE_API_EXPRESSION_MANIFEST });
      folder = join(env.dataDir, '..', 'photos');
      files = [...samplePhotos(), ...firstImages(mux!, 100_000)];
      mkdirSync(folder, { recursive: true });
      for (const f of files)
        copyFileSync(f, join(folder, `${f.includes('/demo/') ? 'demo-' : ''}${basename(f)}`));
      zipFiles = [...samplePhotos(), ...firstImages(mux!, 20)];
      zip = join(env.dataDir, '..', 'photos.zip');
      await writeZip(
        zip,
        zipFiles.map((f, i) => ({ name: `z${i}-${basename(f)}`, bytes: readFileSync(f) })),
      );
      workers = [await startWorker(env), await startWorker(env)];
      procs.push(...workers);
    }, 300_000);

    it('every worker writes to Qdrant (no single writer as with the embedded store)', () => {
      for (const w of workers) expect(w.output()).toContain('serving the write queue');
    });

    it('indexes the folder and the zip: Postgres and Qdrant agree, searches answer', async () => {
      for (const [source, collection] of [
        [folder, 'qe2e'],
        [zip, 'qzip'],
      ] as const) {
        const result = await runFever(['index', source, '--collection', collection], env);
        expect(result.code, result.output.slice(-3000)).toBe(0);
      }
      const stores = await openStores(env);
      try {
        for (const [collection, sources] of [
          ['qe2e', files],
          ['qzip', zipFiles],
        ] as const) {
          const run = await latestRun(stores.metadata, collection);
          expect(run).toMatchObject({
            status: 'succeeded',
            imagesSeen: sources.length,
            imagesIndexed: distinctContents(sources),
            imagesFailed: 0,
          });
          const state = await collectionState(stores.metadata, stores.vectors, collection);
          expect(state.vectorCount, 'Qdrant points of the collection = faces in Postgres').toBe(
            state.faceIds.length,
          );
          expect(state.vectorsFound).toBe(state.faceIds.length);
          expect(state.faceIds.length).toBe(run.facesIndexed);
        }
        firstIds = (await collectionState(stores.metadata, stores.vectors, 'qe2e')).faceIds;
        expect(firstIds.length).toBeGreaterThanOrEqual(21);
      } finally {
        await stores.close();
      }
      const { p, url } = await serve(env);
      try {
        const found = await searchByPhoto(url, 'qe2e');
        expect(found.status).toBe(200);
        const faces = found.body.faces as { results: { collection: string }[] }[];
        expect(faces[0]!.results.length).toBe(5);
        for (const r of faces[0]!.results) expect(r.collection).toBe('qe2e');
      } finally {
        await stopProcess(p);
      }
    });

    it('a re-run in missing mode writes nothing', async () => {
      const result = await runFever(['index', folder, '--collection', 'qe2e'], env);
      expect(result.code, result.output.slice(-3000)).toBe(0);
      const stores = await openStores(env);
      try {
        expect(await latestRun(stores.metadata, 'qe2e')).toMatchObject({
          status: 'succeeded',
          imagesIndexed: 0,
          facesIndexed: 0,
          imagesSkipped: files.length,
        });
        const state = await collectionState(stores.metadata, stores.vectors, 'qe2e');
        expect(state.faceIds).toEqual(firstIds);
        expect(state.vectorCount).toBe(firstIds.length);
      } finally {
        await stores.close();
      }
    });

    it('a second model version re-indexes into its own collection and takes the alias over; no search fails', async () => {
      const { FACE_API_EXPRESSION_MANIFEST } = await import('@fever/encoder');
      const manifest = JSON.parse(readFileSync(FACE_API_EXPRESSION_MANIFEST, 'utf8')) as {
        id: string;
        version: string;
        file: string;
      };
      const v2dir = join(env.dataDir, '..', 'v2');
      mkdirSync(v2dir);
      copyFileSync(join(dirname(FACE_API_EXPRESSION_MANIFEST), manifest.file), join(v2dir, manifest.file));
      writeFileSync(join(v2dir, 'manifest.json'), JSON.stringify({ ...manifest, version: '2.0.0-test' }));
      const v2env: TestEnv = { ...env, vars: { ...env.vars, FEVER_MODEL: join(v2dir, 'manifest.json') } };

      // The API keeps serving v1 (its own model) while the workers move to v2.
      const api = await serve(env);
      procs.push(api.p);
      for (const w of workers) await stopProcess(w);
      workers = [await startWorker(v2env), await startWorker(v2env)];
      procs.push(...workers);
      let searching = true;
      const answers: { status: number; version: string }[] = [];
      const loop = (async () => {
        while (searching) {
          const r = await searchByPhoto(api.url, 'qe2e');
          answers.push({ status: r.status, version: (r.body.model as { version: string })?.version });
        }
      })();
      const result = await runFever(['index', folder, '--collection', 'qe2e'], v2env);
      expect(result.code, result.output.slice(-3000)).toBe(0);
      await sleep(3000); // the API reads the alias at most every second
      searching = false;
      await loop;

      expect(answers.length).toBeGreaterThan(3);
      expect(answers.filter((a) => a.status !== 200)).toEqual([]);
      expect(answers.at(-1)!.version).toBe('2.0.0-test');
      const stores = await openStores(env);
      try {
        const v2collection = modelCollectionName(manifest.id, '2.0.0-test');
        expect(await stores.vectors.getAlias(modelAliasName(manifest.id))).toBe(v2collection);
        expect(await stores.vectors.count(v2collection, { collections: ['qe2e'] })).toBe(firstIds.length);
        expect(
          await stores.vectors.count(modelCollectionName(manifest.id, manifest.version), {
            collections: ['qe2e'],
          }),
        ).toBe(firstIds.length);
      } finally {
        await stores.close();
      }
    });
  });

  describe('faults', () => {
    it('Qdrant killed for 30 s mid-run, then frozen for 30 s: the run completes exactly once; searches in both outages get a prompt 503', async () => {
      const env = await scaledEnv('qdrant-faults');
      const dir = join(env.dataDir, '..', 'photos');
      // Enough work to outlast two outages of 30 s.
      const files = await makeDistinctPhotos(dir, 240, samplePhotos());
      const workers = [await startWorker(env), await startWorker(env)];
      procs.push(...workers);
      // Something to search while Qdrant is away: the samples, indexed first.
      const seeded = await runFever(['index', dirname(samplePhotos()[0]!), '--collection', 'seed'], env);
      expect(seeded.code, seeded.output.slice(-3000)).toBe(0);
      const api = await serve(env);
      procs.push(api.p);

      const indexing = runFever(['index', dir, '--collection', 'qfaults', '--batch', '2'], env);
      // Progress from Postgres alone (Qdrant is down part of the time).
      const { openMetadataStore } = await import('@fever/metadata');
      const metadata = await openMetadataStore({ driver: 'postgres', url: env.databaseUrl! });
      const progressOf = async () => {
        const c = await metadata.collections.get('qfaults');
        if (!c) return 0;
        const run = await latestRun(metadata, 'qfaults');
        return run.imagesIndexed + run.imagesSkipped + run.imagesFailed;
      };
      const waitProgress = async (n: number) => {
        const deadline = Date.now() + 300_000;
        while ((await progressOf()) < n) {
          if (Date.now() > deadline) throw new Error(`run stuck below ${n}`);
          await sleep(300);
        }
      };

      type Answer = { status: number; ms: number; body: Record<string, unknown> };
      /** Searches the seeded collection for `ms`, one request after another. */
      const searchFor = async (ms: number): Promise<Answer[]> => {
        const answers: Answer[] = [];
        for (const start = Date.now(); Date.now() - start < ms; ) {
          const t = Date.now();
          const r = await searchByPhoto(api.url, 'seed');
          answers.push({ status: r.status, ms: Date.now() - t, body: r.body });
        }
        return answers;
      };
      const show = (answers: Answer[]) => answers.map((o) => `${o.status}/${o.ms}ms`).join(' ');

      // 1. Killed: connections are refused until it is back (its WAL replays on restart).
      await waitProgress(10);
      await q.kill('SIGKILL');
      const atKill = await progressOf();
      const whileDown = await searchFor(30_000);
      const afterDown = await progressOf();
      await q.restart();

      // 2. Frozen (SIGSTOP), the harder outage for a client: connections are accepted and no
      // answer comes, so only timeouts end a request.
      await waitProgress(afterDown + 10);
      q.signal('SIGSTOP');
      const atFreeze = await progressOf();
      const whileFrozen = await searchFor(30_000);
      const afterFrozen = await progressOf();
      q.signal('SIGCONT');
      console.info(
        `Qdrant SIGKILLed at ${atKill} of ${files.length} photos, restarted 30 s later at ${afterDown}; ` +
          `frozen at ${atFreeze}, resumed 30 s later at ${afterFrozen}. Searches while down: ` +
          `${show(whileDown)}; while frozen: ${show(whileFrozen)}`,
      );
      expect(afterFrozen, 'both outages fell in the middle of the run').toBeLessThan(files.length);
      const result = await indexing;
      await metadata.close();
      expect(result.code, result.output.slice(-3000)).toBe(0);

      for (const o of [...whileDown, ...whileFrozen]) {
        expect(o.status).toBe(503);
        expect((o.body.error as { code: string }).code).toMatch(/UNAVAILABLE/);
      }
      // A refused connection fails fast; a frozen server within the read deadline (10 s, plus at
      // most one 5 s try begun before it), not after the write timeout of 30 s per try.
      for (const o of whileDown) expect(o.ms).toBeLessThan(10_000);
      for (const o of whileFrozen) expect(o.ms).toBeLessThan(20_000);
      expect((await searchByPhoto(api.url, 'seed')).status).toBe(200);

      const stores = await openStores(env);
      try {
        const run = await latestRun(stores.metadata, 'qfaults');
        const distinct = distinctContents(files);
        expect(run).toMatchObject({ status: 'succeeded', imagesSeen: files.length, imagesFailed: 0 });
        expect(run.imagesIndexed).toBe(distinct);
        expect(await stores.metadata.indexing.countEntries(run.id)).toEqual({
          pending: 0,
          indexed: distinct,
          skipped: files.length - distinct,
          failed: 0,
        });
        const state = await collectionState(stores.metadata, stores.vectors, 'qfaults');
        expect(state.faceIds.length, 'faces counted once each').toBe(run.facesIndexed);
        expect(state.vectorCount, 'one Qdrant point per face, none lost, none extra').toBe(
          state.faceIds.length,
        );
        expect(state.vectorsFound).toBe(state.faceIds.length);
      } finally {
        await stores.close();
      }
    });
  });
});
