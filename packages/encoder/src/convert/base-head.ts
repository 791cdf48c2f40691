import { dirname, join, relative, resolve } from 'node:path';
import { loadExpressionModel } from '../composite.ts';
import { ModelError } from '../errors.ts';
import { isCompositeManifest, readManifestJson } from '../manifest.ts';
import { sha256Bytes } from '../sha256.ts';
import { embeddingHeadGraph, type HeadLayer } from './networks.ts';
import { type ConvertedModel, writeFilesIfChanged } from './write-model.ts';

const OPSET = 17;

/**
 * A learned head over any expression model (`fever train head --base`), as a composite model
 * under `dir`: `head.onnx` (the head's layers) and `manifest.json` with the base's members,
 * weights, inputs and options (paths rebased to `dir`) plus the head. Its version is derived like
 * any composite's, so it changes with the base and with every head weight.
 */
export async function composeBaseHead(
  dir: string,
  id: string,
  baseManifest: string,
  layers: readonly HeadLayer[],
): Promise<ConvertedModel & { version: string }> {
  const base = await loadExpressionModel(baseManifest);
  const raw = (await readManifestJson(base.manifestPath)) as Record<string, unknown>;
  const from = (path: string) => relative(dir, resolve(dirname(base.manifestPath), path));
  let composite: Record<string, unknown>;
  if (isCompositeManifest(raw)) {
    if (raw.head) {
      throw new ModelError(
        'MODEL_MANIFEST_INVALID',
        `${base.manifestPath} already has a head; train over its base instead`,
      );
    }
    const { version: _v, embeddingDims: _d, ...rest } = raw;
    composite = {
      ...rest,
      members: (raw.members as { manifest: string }[]).map((m) => ({ ...m, manifest: from(m.manifest) })),
      ...(typeof raw.landmarks === 'string' ? { landmarks: from(raw.landmarks) } : {}),
    };
  } else {
    for (const key of ['align', 'mirror', 'landmarks']) {
      if (raw[key] !== undefined) {
        throw new ModelError(
          'MODEL_MANIFEST_INVALID',
          `${base.manifestPath} sets ${key}; as the base of a head, write it as a composite of that network with ${key}`,
        );
      }
    }
    composite = {
      task: 'expression',
      members: [{ manifest: from(base.manifestPath), weight: 1 }],
      ...(base.probsFrom === null ? {} : { probsFrom: base.manifest.id }),
    };
  }
  const inputs = base.manifest.embeddingDims!;
  const onnx = embeddingHeadGraph(layers, inputs).toModel({
    producer: 'fever',
    producerVersion: '1',
    opset: OPSET,
    docString: `${id}: a learned head over ${base.manifest.id}@${base.manifest.version}`,
  });
  const manifest = {
    ...composite,
    id,
    head: { file: 'head.onnx', sha256: sha256Bytes(onnx), dims: layers.at(-1)!.outputs },
    source: `learned head (${[inputs, ...layers.map((l) => l.outputs)].join(' → ')}) over ${base.manifest.id}@${base.manifest.version}`,
  };
  const written = await writeFilesIfChanged(dir, [
    ['head.onnx', onnx],
    ['manifest.json', `${JSON.stringify(manifest, null, 2)}\n`],
  ]);
  const manifestPath = join(dir, 'manifest.json');
  const composed = await loadExpressionModel(manifestPath);
  return { id, version: composed.manifest.version, manifestPath, written };
}
