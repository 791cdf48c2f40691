/**
 * Real face embeddings for the vector benchmarks: the bundled expression model (or another one,
 * e.g. a learned head) run over the FER2013 training crops (../shared/data/fer2013_train: 28 709
 * 48×48 greyscale JPEG faces, listed by label in its labels.csv), cached per model under
 * .fever/bench-embeddings/ so that later runs skip the encoder (1–4 min on two cores). Rows are
 * shuffled with a fixed seed: the list is sorted by label, and a held-out query set taken from its
 * end must not be all one expression.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_EXPRESSION_MANIFEST, decodeImage, Encoder, loadExpressionModel } from '@fever/encoder';
import { sharedData } from '@fever/encoder/testing';
import { prng } from '@fever/vectors/testing';

const CACHE_DIR = fileURLToPath(new URL('../../../.fever/bench-embeddings/', import.meta.url));

export interface Embeddings {
  /** count × dims, back to back, unit length. */
  vectors: Float32Array;
  dims: number;
  count: number;
  /** The model that embedded them, id@version. */
  model: string;
}

/** `manifestPath`: the expression model's manifest.json (default: the bundled model). */
export async function fer2013Embeddings(manifestPath = DEFAULT_EXPRESSION_MANIFEST): Promise<Embeddings> {
  // Loaded, not just read: a composite's version is derived from its members.
  const { manifest } = await loadExpressionModel(manifestPath);
  const name = `fer2013_train-${`${manifest.id}@${manifest.version}`.replace(/[^A-Za-z0-9._@+-]/g, '_')}`;
  const meta = join(CACHE_DIR, `${name}.json`);
  const raw = join(CACHE_DIR, `${name}.f32`);
  if (existsSync(meta) && existsSync(raw)) {
    const cached = JSON.parse(await readFile(meta, 'utf8')) as Omit<Embeddings, 'vectors'>;
    // Embeddings of another model version are not this model's: embed again.
    if (cached.model === `${manifest.id}@${manifest.version}`) {
      const bytes = await readFile(raw);
      const vectors = new Float32Array(bytes.buffer, bytes.byteOffset, cached.count * cached.dims);
      return { ...cached, vectors };
    }
  }
  const root = sharedData('fer2013_train');
  if (!root) throw new Error('the FER2013 crops (../shared/data/fer2013_train) are not here');
  // labels.csv: `path,label`, paths relative to the folder, sorted by label.
  const files = (await readFile(join(root, 'labels.csv'), 'utf8'))
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => join(root, line.split(',')[0]!));
  const rand = prng(2013);
  for (let i = files.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [files[i], files[j]] = [files[j]!, files[i]!];
  }
  const encoder = await Encoder.create({
    device: 'cpu',
    expressionModel: manifestPath,
    logger: { info() {}, warn() {} },
  });
  try {
    const dims = encoder.expression.dims;
    const vectors = new Float32Array(files.length * dims);
    const t = performance.now();
    const BATCH = 256;
    for (let start = 0; start < files.length; start += BATCH) {
      const images = await Promise.all(files.slice(start, start + BATCH).map((f) => decodeImage(f)));
      const faces = await encoder.embedCrops(images);
      faces.forEach((face, i) => {
        vectors.set(face.embedding, (start + i) * dims);
      });
      process.stderr.write(`\rembedding FER2013: ${Math.min(files.length, start + BATCH)}/${files.length}`);
    }
    process.stderr.write(` in ${((performance.now() - t) / 1000).toFixed(0)} s\n`);
    const out: Embeddings = {
      vectors,
      dims,
      count: files.length,
      model: `${encoder.model.id}@${encoder.model.version}`,
    };
    await mkdir(CACHE_DIR, { recursive: true });
    await writeFile(raw, new Uint8Array(vectors.buffer));
    await writeFile(meta, JSON.stringify({ dims, count: out.count, model: out.model }));
    return out;
  } finally {
    await encoder.close();
  }
}
