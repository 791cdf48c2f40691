import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ModelManifest } from '../manifest.ts';
import { sha256Hex } from '../manifest.ts';
import type { GraphBuilder } from '../onnx/graph.ts';
import { WeightSource } from './layers.ts';
import { faceExpressionGraph, tinyFaceDetectorGraph } from './networks.ts';
import { readTfjsWeights } from './tfjs-weights.ts';

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

const TARGETS: Target[] = [
  {
    id: 'face-api-tiny-face-detector',
    weights: 'tiny_face_detector_model-weights_manifest.json',
    build: tinyFaceDetectorGraph,
    manifest: () => ({
      task: 'face-detector',
      input: {
        name: 'input',
        size: [416, 416],
        layout: 'NCHW',
        channels: 'RGB',
        mean: [117.001, 114.697, 97.404],
        std: [255, 255, 255],
        crop: 'stretch',
      },
      outputs: { grid: 'grid' },
    }),
  },
  {
    id: 'face-api-expression',
    weights: 'face_expression_model-weights_manifest.json',
    build: faceExpressionGraph,
    manifest: () => ({
      task: 'expression',
      input: {
        name: 'input',
        size: [112, 112],
        layout: 'NCHW',
        channels: 'RGB',
        mean: [122.782, 117.001, 104.298],
        std: [255, 255, 255],
        crop: 'square-centre',
      },
      outputs: { embedding: 'embedding', probs: 'probs' },
      embeddingDims: 256,
      labels: EXPRESSION_LABELS,
    }),
  },
];

export interface ConvertedModel {
  id: string;
  manifestPath: string;
  written: boolean;
}

/**
 * Converts face-api's shipped tfjs weights (from node_modules, no network) into ONNX models with
 * manifests under `outDir/<id>/`. Deterministic: an unchanged model is not rewritten.
 */
export async function convertFaceApiModels(outDir: string): Promise<ConvertedModel[]> {
  const require = createRequire(import.meta.url);
  const pkgJson = require.resolve('@vladmandic/face-api/package.json');
  const { version: faceApiVersion } = JSON.parse(await readFile(pkgJson, 'utf8')) as { version: string };
  const weightsDir = join(dirname(pkgJson), 'model');
  const version = `${faceApiVersion}+fever.${CONVERSION_REVISION}`;

  const converted: ConvertedModel[] = [];
  for (const target of TARGETS) {
    const weights = new WeightSource(await readTfjsWeights(join(weightsDir, target.weights)), target.weights);
    const onnx = target.build(weights).toModel({
      producer: 'fever',
      producerVersion: version,
      opset: OPSET,
      docString: `${target.id}: converted from @vladmandic/face-api ${faceApiVersion} (MIT) ${target.weights}`,
    });
    const manifest: ModelManifest = {
      id: target.id,
      version,
      file: 'model.onnx',
      sha256: sha256Hex(onnx),
      ...target.manifest(version),
      license: 'MIT (weights: @vladmandic/face-api)',
      source: `@vladmandic/face-api@${faceApiVersion}/model/${target.weights}`,
    };
    const dir = join(outDir, target.id);
    const manifestPath = join(dir, 'manifest.json');
    const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
    const unchanged = await readFile(manifestPath, 'utf8').then(
      (text) => text === manifestText,
      () => false,
    );
    const modelUnchanged =
      unchanged &&
      (await readFile(join(dir, 'model.onnx')).then(
        (bytes) => sha256Hex(bytes) === manifest.sha256,
        () => false,
      ));
    if (!modelUnchanged) {
      await mkdir(dir, { recursive: true });
      await writeAtomic(join(dir, 'model.onnx'), onnx);
      await writeAtomic(manifestPath, manifestText);
    }
    converted.push({ id: target.id, manifestPath, written: !modelUnchanged });
  }
  return converted;
}

async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}
