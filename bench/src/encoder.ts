import { cpus } from 'node:os';
import {
  DEFAULT_IDENTITY_MANIFEST,
  DEFAULT_LANDMARKS_MANIFEST,
  DEFAULT_MODELS_DIR,
  decodeImage,
  Encoder,
  FACE_API_EXPRESSION_MANIFEST,
  openFaceNetwork,
  type RgbImage,
} from '@fever/encoder';
import { FaceApiReference } from '@fever/encoder/reference';
import { samplePhotos } from '@fever/encoder/testing';
import { RssSampler, table, writeResults } from './report.ts';

const quiet = { info() {}, warn() {} };
const BATCHES = [1, 8, 32];

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const value = await fn();
  return [value, (performance.now() - start) / 1000];
}

/**
 * `npm run bench -- encoder [--rounds=3] [--threads=N] [--model=<manifest> …] [--detectors=tiny,ssd]`:
 * the pipeline and the expression net against face-api's tfjs reference, then every bundled crop
 * network and each --model (composites, align/mirror options) on the same crops, and each
 * --model's whole pipeline with each detector against the tiny detector + face-api's net.
 */
export default async function encoderBench(args: string[]) {
  const rounds = Number(args.find((a) => a.startsWith('--rounds='))?.split('=')[1] ?? 3);
  const threads = Number(args.find((a) => a.startsWith('--threads='))?.split('=')[1] ?? 0);
  // Expression models (composites, options) to measure beside the default, by manifest.
  const models = args.filter((a) => a.startsWith('--model=')).map((a) => a.slice('--model='.length));
  // Detectors each --model's pipeline is measured with.
  const detectors = (args.find((a) => a.startsWith('--detectors='))?.split('=')[1] ?? 'tiny').split(',');
  const photos = await Promise.all(samplePhotos().map((p) => decodeImage(p)));
  // A workload of 32 photos (the six samples repeated) so batch 32 is one full batch.
  const workload: RgbImage[] = Array.from({ length: 32 }, (_, i) => photos[i % photos.length]!);
  const rss = new RssSampler();
  const rows: Record<string, string | number>[] = [];

  // Reference: one photo at a time, as face-api runs. Its pipeline rows run the expression net
  // twice per face (feature + probabilities, as parity needs), so its expression row is the fair one.
  const reference = await FaceApiReference.create();
  await reference.encode(photos[0]!); // warm-up
  const refPhotos = photos.slice();
  let refFaces = 0;
  const [, refSeconds] = await timed(async () => {
    for (let r = 0; r < rounds; r++)
      for (const p of refPhotos) refFaces += (await reference.encode(p)).length;
  });
  const refPhotosPerSec = (rounds * refPhotos.length) / refSeconds;
  const refFacesPerSec = refFaces / refSeconds;
  rows.push({
    path: 'tfjs-wasm reference',
    stage: 'pipeline',
    batch: 1,
    'photos/s': refPhotosPerSec.toFixed(1),
    'faces/s': refFacesPerSec.toFixed(1),
    'vs ref': '1.00',
  });

  // Reference expression net alone on the face crops.
  // The first table is the conversion's speed: face-api's own network against its tfjs reference.
  const faceApi = {
    device: 'cpu',
    threads,
    logger: quiet,
    expressionModel: FACE_API_EXPRESSION_MANIFEST,
  } as const;
  const onnx = await Encoder.create({ ...faceApi, batchSize: 32 });
  const crops = (await onnx.encode(photos)).flatMap((faces, i) =>
    faces.map((f) => cropOf(photos[i]!, f.box)),
  );
  const [, refExprSeconds] = await timed(async () => {
    for (let r = 0; r < rounds; r++) for (const c of crops) await reference.predictCrop(c);
  });
  const refExprPerSec = (rounds * crops.length) / refExprSeconds;
  rows.push({
    path: 'tfjs-wasm reference',
    stage: 'expression',
    batch: 1,
    'photos/s': '',
    'faces/s': refExprPerSec.toFixed(1),
    'vs ref': '1.00',
  });
  await onnx.close();

  for (const batch of BATCHES) {
    const encoder = await Encoder.create({
      ...faceApi,
      detectBatchSize: batch,
      batchSize: Math.max(batch, 8),
    });
    const { faces, seconds } = await pipeline(encoder, workload, batch, rounds);
    const facesPerSec = faces / seconds;
    rows.push({
      path: `onnx ${encoder.provider}`,
      stage: 'pipeline',
      batch,
      'photos/s': ((rounds * workload.length) / seconds).toFixed(1),
      'faces/s': facesPerSec.toFixed(1),
      'vs ref': (facesPerSec / refFacesPerSec).toFixed(2),
    });
    await encoder.close();
  }

  const cropWorkload = Array.from({ length: 256 }, (_, i) => crops[i % crops.length]!);
  for (const batch of BATCHES) {
    const encoder = await Encoder.create({ ...faceApi, batchSize: batch });
    await encoder.embedCrops(cropWorkload.slice(0, batch));
    const [, seconds] = await timed(async () => {
      for (let r = 0; r < rounds; r++) await encoder.embedCrops(cropWorkload);
    });
    const facesPerSec = (rounds * cropWorkload.length) / seconds;
    rows.push({
      path: `onnx ${encoder.provider}`,
      stage: 'expression',
      batch,
      'photos/s': '',
      'faces/s': facesPerSec.toFixed(1),
      'vs ref': (facesPerSec / refExprPerSec).toFixed(2),
    });
    await encoder.close();
  }

  // Each bundled crop network alone, and each --model, on the same crops at batch 32, beside the
  // default expression model in the same run ("vs ref" here: over face-api-expression).
  const modelRows: Record<string, string | number>[] = [];
  const cropSeconds = async (run: (images: RgbImage[]) => Promise<unknown>) => {
    await run(cropWorkload.slice(0, 32));
    const [, seconds] = await timed(async () => {
      for (let r = 0; r < rounds; r++) await run(cropWorkload);
    });
    return (rounds * cropWorkload.length) / seconds;
  };
  const expressionModels = [
    FACE_API_EXPRESSION_MANIFEST,
    `${DEFAULT_MODELS_DIR}human-emotion/manifest.json`,
    ...models,
  ];
  let baseline = 0;
  for (const manifest of expressionModels) {
    const encoder = await Encoder.create({
      device: 'cpu',
      threads,
      logger: quiet,
      expressionModel: manifest,
    });
    const facesPerSec = await cropSeconds((images) => encoder.embedCrops(images));
    baseline ||= facesPerSec;
    modelRows.push({
      network: `${encoder.model.id}@${encoder.model.version}`,
      task: 'expression',
      dims: encoder.model.embeddingDims ?? 0,
      'faces/s': facesPerSec.toFixed(1),
      'vs face-api': (facesPerSec / baseline).toFixed(2),
    });
    await encoder.close();
  }
  for (const [task, manifest] of [
    ['face-landmarks', DEFAULT_LANDMARKS_MANIFEST],
    ['face-identity', DEFAULT_IDENTITY_MANIFEST],
  ] as const) {
    const network = await openFaceNetwork(manifest, { threads, batchSize: 32 });
    const outputs = Object.values(network.manifest.outputs).filter((o): o is string => Boolean(o));
    const facesPerSec = await cropSeconds((images) =>
      network.run(
        images.map((image) => ({ image, region: { x: 0, y: 0, width: image.width, height: image.height } })),
        outputs,
      ),
    );
    modelRows.push({
      network: `${network.manifest.id}@${network.manifest.version}`,
      task,
      dims: network.manifest.embeddingDims ?? 136,
      'faces/s': facesPerSec.toFixed(1),
      'vs face-api': (facesPerSec / baseline).toFixed(2),
    });
    await network.close();
  }

  // The whole pipeline with each --model and each --detectors entry, batch 8 (the indexing
  // default), against face-api's expression net with the tiny detector (fever's first default)
  // measured in the same run: "vs tiny+face-api" is photos/s over that.
  const pipelineRows: Record<string, string | number>[] = [];
  let firstDefault = 0;
  const pipelines = [
    { detector: 'tiny', manifest: FACE_API_EXPRESSION_MANIFEST },
    ...models.flatMap((manifest) => detectors.map((detector) => ({ detector, manifest }))),
  ];
  for (const { detector, manifest } of pipelines) {
    const encoder = await Encoder.create({
      device: 'cpu',
      threads,
      logger: quiet,
      expressionModel: manifest,
      detectorModel: detector,
    });
    const { faces, seconds } = await pipeline(encoder, workload, 8, rounds);
    const photosPerSec = (rounds * workload.length) / seconds;
    firstDefault ||= photosPerSec;
    pipelineRows.push({
      detector,
      model: `${encoder.model.id}@${encoder.model.version}`,
      'faces/photo': (faces / (rounds * workload.length)).toFixed(2),
      'photos/s': photosPerSec.toFixed(2),
      'faces/s': (faces / seconds).toFixed(1),
      'vs tiny+face-api': (photosPerSec / firstDefault).toFixed(2),
    });
    await encoder.close();
  }

  const peakRssMb = rss.stop();
  console.log(table(rows));
  console.log(table(modelRows));
  console.log(table(pipelineRows));
  console.log(
    `peak RSS ${peakRssMb.toFixed(0)} MB (reference and ONNX in one process); ${cpus().length} cores, ${cpus()[0]?.model}`,
  );
  console.log(
    'vs ref = faces/s over the tfjs-wasm reference (single-threaded) on the same images in this run',
  );
  const file = await writeResults('encoder', {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model,
    cores: cpus().length,
    rounds,
    threads,
    peakRssMb,
    rows,
    models: modelRows,
    pipelines: pipelineRows,
  });
  console.log(`wrote ${file}`);
}

/** `rounds` passes of the whole pipeline over `workload`, `batch` photos per call, after a warm-up call. */
async function pipeline(encoder: Encoder, workload: RgbImage[], batch: number, rounds: number) {
  await encoder.encode(workload.slice(0, batch));
  let faces = 0;
  const [, seconds] = await timed(async () => {
    for (let r = 0; r < rounds; r++) {
      for (let s = 0; s < workload.length; s += batch) {
        faces += (await encoder.encode(workload.slice(s, s + batch))).reduce((n, f) => n + f.length, 0);
      }
    }
  });
  return { faces, seconds };
}

/** A face crop as its own image, for the expression-only runs. */
function cropOf(image: RgbImage, box: { x: number; y: number; width: number; height: number }): RgbImage {
  const x = Math.max(0, Math.floor(box.x));
  const y = Math.max(0, Math.floor(box.y));
  const w = Math.min(image.width - x, Math.floor(box.width));
  const h = Math.min(image.height - y, Math.floor(box.height));
  const data = new Uint8Array(w * h * 3);
  for (let row = 0; row < h; row++) {
    data.set(
      image.data.subarray(((y + row) * image.width + x) * 3, ((y + row) * image.width + x + w) * 3),
      row * w * 3,
    );
  }
  return { data, width: w, height: h };
}
