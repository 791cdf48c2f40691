import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ModelManifest } from '../manifest.ts';
import { attr, GraphBuilder } from '../onnx/graph.ts';
import { sha256Bytes } from '../sha256.ts';
import { EXPRESSION_LABELS } from './face-api.ts';
import { dataInputs, importTfjsGraph, readTfjsGraphModel, type TfjsGraphModel } from './tfjs-graph.ts';
import { type ConvertedModel, sourceDigests, writeModel } from './write-model.ts';

/** Bump when the conversion changes the ONNX bytes: the version tags every stored vector. */
const CONVERSION_REVISION = 1;
const OPSET = 17;

export const HUMAN_EMOTION_ID = 'human-emotion';

/** The emotion network's class order (oarriaga's FER2013 mini-Xception, as Human annotates it). */
const HUMAN_EMOTION_LABELS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'];
const HUMAN_NAME: Record<string, string> = {
  neutral: 'neutral',
  happy: 'happy',
  sad: 'sad',
  angry: 'angry',
  fearful: 'fear',
  disgusted: 'disgust',
  surprised: 'surprise',
};

/**
 * Human's emotion network: 64×64 greyscale in [-1, 1] (NCHW here), `probs` in fever's label order
 * and `embedding` = the spatial mean of the 256-channel map that the last (3×3, 256 → 7) conv
 * reads: the classifier's own input, before it is collapsed to 7 logits.
 */
export function humanEmotionGraph(model: TfjsGraphModel): GraphBuilder {
  const g = new GraphBuilder('human_emotion');
  const input = g.input('input', ['batch', 1, 64, 64]);
  const imported = importTfjsGraph(g, model, { input_1: { value: input, rank: 4, channels: 1 } });

  // Softmax ← Mean ← last conv ← feature map.
  const nodes = [...model.nodes.values()];
  const softmax = nodes.find((n) => n.op === 'Softmax');
  const mean = softmax && model.nodes.get(dataInputs(softmax)[0]!);
  const lastConv = mean?.op === 'Mean' ? model.nodes.get(dataInputs(mean)[0]!) : undefined;
  if (!softmax || !lastConv || lastConv.op !== '_FusedConv2D') {
    throw new Error(`${model.label}: expected Softmax(Mean(conv)) at the end of the emotion graph`);
  }
  const featureName = dataInputs(lastConv)[0]!;
  const feature = imported.get(featureName)!;
  if (feature.channels !== 256) {
    throw new Error(`${model.label}: ${featureName} has ${feature.channels} channels, expected 256`);
  }
  const pooled = g.node('GlobalAveragePool', [feature.value]);
  g.node('Flatten', [pooled], { axis: attr.int(1) }, 'embedding');

  const order = EXPRESSION_LABELS.map((label) => HUMAN_EMOTION_LABELS.indexOf(HUMAN_NAME[label]!));
  g.node(
    'Gather',
    [imported.get(softmax.name)!.value, g.int64Constant('fever_label_order', order)],
    { axis: attr.int(1) },
    'probs',
  );
  g.output('embedding', ['batch', feature.channels]);
  g.output('probs', ['batch', EXPRESSION_LABELS.length]);
  return g;
}

interface HumanPackage {
  version: string;
  dir: string;
}

/** @vladmandic/human's installed version and models folder (from node_modules, no network). */
export async function humanPackage(): Promise<HumanPackage> {
  const require = createRequire(import.meta.url);
  // The package's `exports` hide package.json; its main file sits in dist/.
  const root = dirname(dirname(require.resolve('@vladmandic/human')));
  const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };
  return { version, dir: join(root, 'models') };
}

/**
 * The manifest of Human's emotion model. Preprocessing as Human's `emotion.predict`: the face
 * crop resized to 64×64 (TF bilinear, no half-pixel centres), grey = 0.2989 R + 0.587 G + 0.114 B,
 * then (grey / 255 - 0.5) × 2, which is (grey - 127.5) / 127.5. Human crops from its own face
 * mesh box; fever uses its detector's box, padded square like face-api's crop.
 */
function emotionManifest(version: string): Omit<ModelManifest, 'id' | 'version' | 'file' | 'sha256'> {
  return {
    task: 'expression',
    input: {
      name: 'input',
      size: [64, 64],
      layout: 'NCHW',
      channels: 'GRAY',
      grayWeights: [0.2989, 0.587, 0.114],
      mean: [127.5],
      std: [127.5],
      crop: 'square-centre',
    },
    outputs: { embedding: 'embedding', probs: 'probs' },
    embeddingDims: 256,
    labels: EXPRESSION_LABELS,
    license: 'MIT (weights: @vladmandic/human, trained by oarriaga/face_classification on FER2013)',
    source: `@vladmandic/human@${version}/models/emotion.json`,
  };
}

/** Converts Human's emotion graph model into `outDir/human-emotion/`. A second run rewrites nothing. */
export async function convertHumanModels(outDir: string): Promise<ConvertedModel[]> {
  const human = await humanPackage();
  const version = `${human.version}+fever.${CONVERSION_REVISION}`;
  const model = await readTfjsGraphModel(join(human.dir, 'emotion.json'));
  const onnx = humanEmotionGraph(model).toModel({
    producer: 'fever',
    producerVersion: version,
    opset: OPSET,
    docString: `${HUMAN_EMOTION_ID}: converted from @vladmandic/human ${human.version} (MIT) models/emotion.json`,
  });
  const manifest: ModelManifest = {
    id: HUMAN_EMOTION_ID,
    version,
    file: 'model.onnx',
    sha256: sha256Bytes(onnx),
    ...emotionManifest(human.version),
    sources: await sourceDigests(human.dir, `@vladmandic/human@${human.version}/models`, [
      'emotion.json',
      'emotion.bin',
    ]),
  };
  return [await writeModel(join(outDir, HUMAN_EMOTION_ID), manifest, onnx)];
}
