/**
 * `npm run bench -- memory [--n=50000] [--dtypes=f32,f16,i8] [--dims=256]`
 *
 * Memory and disk per stored face vector, for docs/SCALING.md:
 * - `store`: the embedded vector store as fever runs it (EmbeddedVectorStore, its defaults but
 *   fsync off: HNSW M=32 in usearch, the store's own vector copy, ids, payloads like the
 *   indexer's and the filter indexes), process RSS growth per vector after a full GC;
 * - `usearch`: a bare usearch index with the same HNSW settings, to show what the graph alone
 *   costs; its serialised size is what a save/view of the index holds.
 * Each row runs in its own child process (started with --expose-gc) so RSS does not carry over.
 * The vectors are random unit vectors; memory does not depend on their values.
 * Rows land in bench/results/memory.json.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Dtype, EmbeddedVectorStore, type Point } from '@fever/vectors';
import { randomUnitVectors, testId } from '@fever/vectors/testing';
import { Index, MetricKind, ScalarKind } from 'usearch';
import { table, writeResults } from './report.ts';

const LABELS = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'];
const CONNECTIVITY = 32;
const EXPANSION_ADD = 128;

interface Row {
  what: 'store' | 'usearch';
  dtype: Dtype;
  vectors: number;
  dims: number;
  /** Process RSS growth per vector, after GC. */
  rss_bytes_per_vector: number;
  /** JS heap + ArrayBuffer growth per vector (part of the RSS figure). */
  js_bytes_per_vector: number;
  /** On-disk bytes per vector (store: snapshot + log; usearch: the saved index). */
  disk_bytes_per_vector: number;
  build_s: number;
}

function arg(args: string[], name: string, fallback: string): string {
  return args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
}

export default async function memoryBench(args: string[]): Promise<void> {
  const child = arg(args, 'child', '');
  if (child) return runOne(args, child);
  const dtypes = arg(args, 'dtypes', 'f32,f16,i8').split(',') as Dtype[];
  const rows: Row[] = [];
  for (const dtype of dtypes) {
    for (const what of ['store', 'usearch'] as const) {
      console.error(`memory: ${what} ${dtype} …`);
      rows.push(await inChild(args, `${what}:${dtype}`));
    }
  }
  console.log(
    table(
      rows.map((r) => ({
        what: r.what,
        dtype: r.dtype,
        vectors: r.vectors.toLocaleString('en-US'),
        'RSS B/vector': r.rss_bytes_per_vector.toFixed(0),
        'JS B/vector': r.js_bytes_per_vector.toFixed(0),
        'disk B/vector': r.disk_bytes_per_vector.toFixed(0),
        'vectors/GB RAM': Math.floor(2 ** 30 / r.rss_bytes_per_vector).toLocaleString('en-US'),
        'build s': r.build_s.toFixed(1),
      })),
    ),
  );
  const file = await writeResults('memory', {
    bench: 'memory',
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version },
    date: new Date().toISOString(),
    args,
    hnsw: { connectivity: CONNECTIVITY, expansionAdd: EXPANSION_ADD },
    rows,
  });
  console.error(`wrote ${file}`);
}

function inChild(args: string[], spec: string): Promise<Row> {
  const runTs = fileURLToPath(new URL('./run.ts', import.meta.url));
  const passThrough = args.filter((a) => !a.startsWith('--dtypes='));
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', runTs, 'memory', `--child=${spec}`, ...passThrough],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    proc.on('error', reject);
    proc.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.startsWith('{'))
        reject(new Error(`memory child ${spec} failed (exit ${code})`));
      else resolve(JSON.parse(last) as Row);
    });
  });
}

function settle(): { rss: number; js: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run through `npm run bench -- memory` (the child needs --expose-gc)');
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return { rss: m.rss, js: m.heapUsed + m.arrayBuffers };
}

function du(path: string): number {
  const s = statSync(path);
  if (!s.isDirectory()) return s.size;
  return readdirSync(path).reduce((sum, f) => sum + du(join(path, f)), 0);
}

async function runOne(args: string[], spec: string): Promise<void> {
  const [what, dtype] = spec.split(':') as [Row['what'], Dtype];
  const n = Number(arg(args, 'n', '50000'));
  const dims = Number(arg(args, 'dims', '256'));
  const dir = mkdtempSync(join(tmpdir(), 'fever-bench-memory-'));
  // Generated in chunks and dropped, so the bench's own copy of the data is not counted.
  const CHUNK = 5000;
  const chunk = (start: number) => randomUnitVectors(Math.min(CHUNK, n - start), dims, 1000 + start);
  try {
    let before: { rss: number; js: number };
    let after: { rss: number; js: number };
    let disk: number;
    const started = performance.now();
    if (what === 'store') {
      const store = await EmbeddedVectorStore.open({ dir, dtype, fsync: false });
      await store.ensureCollection({ name: 'faces', dims, distance: 'cosine' });
      before = settle();
      for (let start = 0; start < n; start += CHUNK) {
        const data = chunk(start);
        const points: Point[] = [];
        for (let i = 0; i < data.length / dims; i++) {
          const k = start + i;
          points.push({
            id: testId(k),
            vector: data.subarray(i * dims, (i + 1) * dims),
            payload: {
              collection: 'archive',
              imageId: String(Math.floor(k / 3)),
              label: LABELS[k % LABELS.length]!,
              score: 0.5 + (k % 50) / 100,
              model: 'face-api-expression@1.7.15+fever.1',
            },
          });
        }
        await store.upsert('faces', points);
      }
      after = settle();
      await store.close();
      disk = du(dir);
    } else {
      const index = new Index({
        dimensions: dims,
        metric: MetricKind.Cos,
        quantization: { f32: ScalarKind.F32, f16: ScalarKind.F16, i8: ScalarKind.I8 }[dtype],
        connectivity: CONNECTIVITY,
        expansion_add: EXPANSION_ADD,
        expansion_search: 64,
        multi: false,
      });
      before = settle();
      for (let start = 0; start < n; start += CHUNK) {
        const data = chunk(start);
        const keys = BigUint64Array.from({ length: data.length / dims }, (_, i) => BigInt(start + i));
        index.add(keys, data, 0);
      }
      after = settle();
      const file = join(dir, 'index.usearch');
      index.save(file);
      disk = du(file);
    }
    const row: Row = {
      what,
      dtype,
      vectors: n,
      dims,
      rss_bytes_per_vector: (after.rss - before.rss) / n,
      js_bytes_per_vector: (after.js - before.js) / n,
      disk_bytes_per_vector: disk / n,
      build_s: (performance.now() - started) / 1000,
    };
    console.log(JSON.stringify(row));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
