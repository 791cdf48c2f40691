import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { ModelManifest } from '../manifest.ts';
import { sha256Bytes } from '../sha256.ts';
import { EXPRESSION_LABELS, faceCrop } from './face-api.ts';
import { WeightSource } from './layers.ts';
import { faceExpressionGraph } from './networks.ts';
import { readTfjsWeights } from './tfjs-weights.ts';
import { type ConvertedModel, sourceDigests, writeModel } from './write-model.ts';

const OPSET = 17;

/**
 * `training.json`, written beside the weights by packages/train/python/finetune_face_api.py: what
 * the weights are (face-api's expression architecture at an input side) and how they were made.
 */
const trainingRecordSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/),
  architecture: z.literal('face-api-expression'),
  input: z.object({ size: z.number().int().min(32).max(512) }),
  weights: z.object({
    file: z.string().min(1),
    bin: z.string().min(1),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  }),
});

/**
 * Builds each committed trained network (`<dir>/<id>/training.json` + its tfjs weights) into an
 * ONNX model under `outDir/<id>/`, with face-api's graph code at the trained input side. The
 * version is the weights' digest: new weights, a new version.
 */
export async function convertTrainedModels(dir: string, outDir: string): Promise<ConvertedModel[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const converted: ConvertedModel[] = [];
  for (const entry of entries.filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
    const folder = join(dir, entry.name);
    const recordPath = join(folder, 'training.json');
    const record = trainingRecordSchema.parse(JSON.parse(await readFile(recordPath, 'utf8')));
    const bin = await readFile(join(folder, record.weights.bin));
    if (sha256Bytes(bin) !== record.weights.sha256) {
      throw new Error(
        `${recordPath}: ${record.weights.bin} has sha256 ${sha256Bytes(bin)}, not ${record.weights.sha256}`,
      );
    }
    const version = `w.${record.weights.sha256.slice(0, 12)}`;
    const weights = new WeightSource(await readTfjsWeights(join(folder, record.weights.file)), recordPath);
    const onnx = faceExpressionGraph(weights, record.input.size).toModel({
      producer: 'fever',
      producerVersion: version,
      opset: OPSET,
      docString: `${record.id}: face-api's expression network fine-tuned by fever (${recordPath})`,
    });
    const manifest: ModelManifest = {
      id: record.id,
      version,
      file: 'model.onnx',
      sha256: sha256Bytes(onnx),
      task: 'expression',
      input: faceCrop(record.input.size),
      outputs: { embedding: 'embedding', probs: 'probs' },
      embeddingDims: 256,
      labels: EXPRESSION_LABELS,
      license: 'MIT (fine-tuned by fever from @vladmandic/face-api weights; see training.json)',
      source: `packages/encoder/trained/${entry.name}/training.json`,
      sources: await sourceDigests(folder, `packages/encoder/trained/${entry.name}`, [
        'training.json',
        record.weights.file,
        record.weights.bin,
      ]),
    };
    converted.push(await writeModel(join(outDir, record.id), manifest, onnx));
  }
  return converted;
}
