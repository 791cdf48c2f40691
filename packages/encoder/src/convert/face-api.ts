import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ModelManifest } from '../manifest.ts';
import type { GraphBuilder } from '../onnx/graph.ts';
import { sha256Bytes } from '../sha256.ts';
import { faceRecognitionGraph, RECOGNITION_INPUT_SIZE } from './face-recognition.ts';
import { WeightSource } from './layers.ts';
import {
  DENSE_BLOCK_SHAPES,
  type DenseBlockName,
  type ExpressionHead,
  expressionTrunkPrefixGraph,
  expressionWithHeadGraph,
  faceExpressionGraph,
  faceLandmark68Graph,
  HEAD_INPUT_DIMS,
  type TrunkTensor,
  tinyFaceDetectorGraph,
  trunkFeaturesOf,
} from './networks.ts';
import { SSD_INPUT_SIZE, ssdMobilenetV1Graph } from './ssd-mobilenet.ts';
import { readTfjsWeights, type WeightGroup } from './tfjs-weights.ts';
import { type ConvertedModel, sourceDigests, writeModel } from './write-model.ts';

/** Bump when the conversion changes the ONNX bytes: the version tags every stored vector. */
const CONVERSION_REVISION = 1;
const OPSET = 17;

export const EXPRESSION_LABELS = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'];

interface Target {
  id: string;
  weights: string;
  build: (w: WeightSource) => GraphBuilder;
  manifest: (version: string) => Omit<ModelManifest, 'id' | 'version' | 'file' | 'sha256'>;
}

const FACE_API_MEAN_RGB = [122.782, 117.001, 104.298];

const tinyDetector =
  (size: number): Target['manifest'] =>
  () => ({
    task: 'face-detector',
    decoder: 'tiny-yolo-v2',
    input: {
      name: 'input',
      size: [size, size],
      layout: 'NCHW',
      channels: 'RGB',
      mean: [117.001, 114.697, 97.404],
      std: [255, 255, 255],
      crop: 'stretch',
    },
    outputs: { grid: 'grid' },
  });

/** face-api's face crop input: padded square, face centred, (rgb - mean) / 255. */
export const faceCrop = (side: number): ModelManifest['input'] => ({
  name: 'input',
  size: [side, side],
  layout: 'NCHW',
  channels: 'RGB',
  mean: FACE_API_MEAN_RGB,
  std: [255, 255, 255],
  crop: 'square-centre',
});

const TARGETS: Target[] = [
  {
    id: 'face-api-tiny-face-detector',
    weights: 'tiny_face_detector_model-weights_manifest.json',
    build: tinyFaceDetectorGraph,
    manifest: tinyDetector(416),
  },
  {
    // The same network run at 608: finds smaller faces, slower.
    id: 'face-api-tiny-face-detector-608',
    weights: 'tiny_face_detector_model-weights_manifest.json',
    build: tinyFaceDetectorGraph,
    manifest: tinyDetector(608),
  },
  {
    id: 'face-api-ssd-mobilenetv1',
    weights: 'ssd_mobilenetv1_model-weights_manifest.json',
    build: ssdMobilenetV1Graph,
    manifest: () => ({
      task: 'face-detector',
      decoder: 'ssd',
      // face-api: the image padded bottom/right to a square, resized to 512, x / 127.5 - 1.
      input: {
        name: 'input',
        size: [SSD_INPUT_SIZE, SSD_INPUT_SIZE],
        layout: 'NCHW',
        channels: 'RGB',
        mean: [127.5, 127.5, 127.5],
        std: [127.5, 127.5, 127.5],
        crop: 'stretch',
      },
      outputs: { boxes: 'boxes', scores: 'scores' },
    }),
  },
  {
    id: 'face-api-expression',
    weights: 'face_expression_model-weights_manifest.json',
    build: (w) => faceExpressionGraph(w),
    manifest: () => ({
      task: 'expression',
      input: faceCrop(112),
      outputs: { embedding: 'embedding', probs: 'probs' },
      embeddingDims: 256,
      labels: EXPRESSION_LABELS,
    }),
  },
  {
    id: 'face-api-landmark-68',
    weights: 'face_landmark_68_model-weights_manifest.json',
    build: faceLandmark68Graph,
    manifest: () => ({ task: 'face-landmarks', input: faceCrop(112), outputs: { landmarks: 'landmarks' } }),
  },
  {
    id: 'face-api-recognition',
    weights: 'face_recognition_model-weights_manifest.json',
    build: faceRecognitionGraph,
    manifest: () => ({
      task: 'face-identity',
      input: faceCrop(RECOGNITION_INPUT_SIZE),
      outputs: { embedding: 'descriptor' },
      embeddingDims: 128,
    }),
  },
];

interface FaceApiWeights {
  version: string;
  dir: string;
}

/** face-api's installed version and weights folder (from node_modules, no network). */
async function faceApiWeights(): Promise<FaceApiWeights> {
  const require = createRequire(import.meta.url);
  const pkgJson = require.resolve('@vladmandic/face-api/package.json');
  const { version } = JSON.parse(await readFile(pkgJson, 'utf8')) as { version: string };
  return { version, dir: join(dirname(pkgJson), 'model') };
}

async function loadWeights(face: FaceApiWeights, file: string): Promise<WeightSource> {
  return new WeightSource(await readTfjsWeights(join(face.dir, file)), file);
}

/** A weights manifest and its shards, with their sha256s. */
async function weightSources(face: FaceApiWeights, file: string) {
  const groups = JSON.parse(await readFile(join(face.dir, file), 'utf8')) as WeightGroup[];
  const files = [file, ...groups.flatMap((g) => g.paths)];
  return sourceDigests(face.dir, `@vladmandic/face-api@${face.version}/model`, files);
}

/**
 * Converts face-api's shipped tfjs weights into ONNX models with manifests under `outDir/<id>/`.
 * Deterministic: an unchanged model is not rewritten.
 */
export async function convertFaceApiModels(outDir: string): Promise<ConvertedModel[]> {
  const face = await faceApiWeights();
  const version = `${face.version}+fever.${CONVERSION_REVISION}`;
  const converted: ConvertedModel[] = [];
  for (const target of TARGETS) {
    const onnx = target.build(await loadWeights(face, target.weights)).toModel({
      producer: 'fever',
      producerVersion: version,
      opset: OPSET,
      docString: `${target.id}: converted from @vladmandic/face-api ${face.version} (MIT) ${target.weights}`,
    });
    const manifest: ModelManifest = {
      id: target.id,
      version,
      file: 'model.onnx',
      sha256: sha256Bytes(onnx),
      ...target.manifest(version),
      license: 'MIT (weights: @vladmandic/face-api)',
      source: `@vladmandic/face-api@${face.version}/model/${target.weights}`,
      sources: await weightSources(face, target.weights),
    };
    converted.push(await writeModel(join(outDir, target.id), manifest, onnx));
  }
  return converted;
}

/**
 * The face-api expression trunk composed with a learned head (see `expressionWithHeadGraph`) as one
 * ONNX model under `dir`, its manifest naming `id` and a version that changes with the trunk and
 * with every head weight. Same inputs, same bytes.
 */
export async function composeHeadModel(
  dir: string,
  id: string,
  head: ExpressionHead,
  /** sha256 of the head's weights file: it versions the model. */
  headSha256: string,
): Promise<ConvertedModel> {
  const face = await faceApiWeights();
  const target = TARGETS.find((t) => t.id === 'face-api-expression')!;
  const version = `${face.version}+fever.${CONVERSION_REVISION}+head.${headSha256.slice(0, 12)}`;
  const onnx = expressionWithHeadGraph(await loadWeights(face, target.weights), head).toModel({
    producer: 'fever',
    producerVersion: version,
    opset: OPSET,
    docString: `${id}: face-api ${face.version} expression trunk (MIT) with a learned embedding head`,
  });
  const tunedBlocks = [...new Set((head.trunk ?? []).map((t) => t.name.split('/')[0]))];
  const manifest: ModelManifest = {
    id,
    version,
    file: 'model.onnx',
    sha256: sha256Bytes(onnx),
    ...target.manifest(version),
    embeddingDims: head.layers.at(-1)?.outputs ?? HEAD_INPUT_DIMS[trunkFeaturesOf(head)],
    license: 'MIT (trunk weights: @vladmandic/face-api; head: fever)',
    source:
      `face-api ${face.version} expression trunk` +
      (tunedBlocks.length
        ? ` (${tunedBlocks.join(', ')} fine-tuned for the embedding; probs from the original blocks)`
        : '') +
      `, ${head.input} features → ${[HEAD_INPUT_DIMS[trunkFeaturesOf(head)], ...head.layers.map((l) => l.outputs)].join(' → ')} head`,
  };
  return writeModel(dir, manifest, onnx);
}

/**
 * The expression trunk up to and including `last` as an ONNX model whose output `map` is that
 * block's feature map (NCHW), with the expression model's manifest (its `embedding` names the
 * map): what a fine-tuned later block trains on. Not written to disk; `sha256` keys caches.
 */
export async function expressionTrunkPrefixModel(
  last: DenseBlockName,
): Promise<{ onnx: Uint8Array; manifest: ModelManifest }> {
  const face = await faceApiWeights();
  const target = TARGETS.find((t) => t.id === 'face-api-expression')!;
  const version = `${face.version}+fever.${CONVERSION_REVISION}+until.${last}`;
  const onnx = expressionTrunkPrefixGraph(await loadWeights(face, target.weights), last).toModel({
    producer: 'fever',
    producerVersion: version,
    opset: OPSET,
    docString: `face-api ${face.version} expression trunk up to ${last}, NCHW map`,
  });
  const { side, channels } = DENSE_BLOCK_SHAPES[last];
  const base = target.manifest(version);
  const manifest: ModelManifest = {
    id: `face-api-expression-until-${last}`,
    version,
    file: 'model.onnx',
    sha256: sha256Bytes(onnx),
    ...base,
    outputs: { embedding: 'map' },
    embeddingDims: side * side * channels,
  };
  delete manifest.labels;
  return { onnx, manifest };
}

/** face-api's own tensors of one dense block (tfjs names and layouts): where fine-tuning starts. */
export async function expressionBlockTensors(block: DenseBlockName): Promise<TrunkTensor[]> {
  const face = await faceApiWeights();
  const target = TARGETS.find((t) => t.id === 'face-api-expression')!;
  const tensors = await readTfjsWeights(join(face.dir, target.weights));
  return [...tensors.entries()]
    .filter(([name]) => name.startsWith(`${block}/`))
    .map(([name, t]) => ({ name, shape: t.shape, data: t.data }));
}
