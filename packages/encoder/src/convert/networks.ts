import { attr, GraphBuilder } from '../onnx/graph.ts';
import { conv, separableConv, type WeightSource } from './layers.ts';

/**
 * face-api's two networks, rebuilt op for op from its source (1.7.15) as ONNX graphs.
 * Inputs are NCHW float32, already normalised ((rgb - mean) / 255) by the caller, per the manifest.
 */

/** TinyFaceDetector: TinyYolov2 with separable convs, first layer a plain conv, leaky ReLU(0.1). */
export function tinyFaceDetectorGraph(weights: WeightSource): GraphBuilder {
  const g = new GraphBuilder('tiny_face_detector');
  const input = g.input('input', ['batch', 3, 'height', 'width']);
  const leaky = (x: string) => g.node('LeakyRelu', [x], { alpha: attr.float(0.1) });
  const maxPool = (x: string, stride: number) =>
    g.node('MaxPool', [x], {
      kernel_shape: attr.ints([2, 2]),
      strides: attr.ints([stride, stride]),
      auto_pad: attr.string('SAME_UPPER'),
    });

  let x = leaky(conv(g, input, weights.get('conv0/filters'), weights.get('conv0/bias'), 'conv0', 1, 'valid'));
  x = maxPool(x, 2);
  for (const [layer, poolStride] of [
    ['conv1', 2],
    ['conv2', 2],
    ['conv3', 2],
    ['conv4', 2],
    ['conv5', 1],
  ] as const) {
    x = leaky(separableConv(g, x, weights, layer, 1, { explicit: 1 }));
    x = maxPool(x, poolStride);
  }
  const grid = conv(g, x, weights.get('conv8/filters'), weights.get('conv8/bias'), 'conv8', 1, 'valid');
  g.node('Identity', [grid], {}, 'grid');
  g.output('grid', ['batch', 25, 'cells', 'cells']);
  return g;
}

/** FaceExpressionNet's dense blocks in order, with each block's output channels and map side. */
export const DENSE_BLOCKS = ['dense0', 'dense1', 'dense2', 'dense3'] as const;
export type DenseBlockName = (typeof DENSE_BLOCKS)[number];
export const DENSE_BLOCK_SHAPES: Record<DenseBlockName, { channels: number; side: number }> = {
  dense0: { channels: 32, side: 56 },
  dense1: { channels: 64, side: 28 },
  dense2: { channels: 128, side: 14 },
  dense3: { channels: 256, side: 7 },
};

/**
 * One dense block of FaceExpressionNet's trunk (FaceFeatureExtractor). `name` prefixes its ONNX
 * constants: a fine-tuned copy of a block beside the original needs its own names.
 */
function denseBlock(
  g: GraphBuilder,
  weights: WeightSource,
  x: string,
  prefix: DenseBlockName,
  name: string = prefix,
): string {
  const relu = (v: string) => g.node('Relu', [v]);
  const add = (a: string, b: string) => g.node('Add', [a, b]);
  const out1 = relu(
    prefix === 'dense0'
      ? conv(
          g,
          x,
          weights.get(`${prefix}/conv0/filters`),
          weights.get(`${prefix}/conv0/bias`),
          `${name}/conv0`,
          2,
          'same',
        )
      : separableConv(g, x, weights, `${prefix}/conv0`, 2, 'same', `${name}/conv0`),
  );
  const out2 = separableConv(g, out1, weights, `${prefix}/conv1`, 1, 'same', `${name}/conv1`);
  const in3 = relu(add(out1, out2));
  const out3 = separableConv(g, in3, weights, `${prefix}/conv2`, 1, 'same', `${name}/conv2`);
  // Same association order as the reference: out1 + (out2 + out3), float addition is not associative.
  const in4 = relu(add(out1, add(out2, out3)));
  const out4 = separableConv(g, in4, weights, `${prefix}/conv3`, 1, 'same', `${name}/conv3`);
  return relu(add(out1, add(out2, add(out3, out4))));
}

/**
 * Dense blocks `first`..`last` of the trunk (112×112 input → 256×7×7 for all four). A graph can
 * stop early (the dense2 map a fine-tuned dense3 trains on) or start late (a fine-tuned block).
 * Returns the name of the feature map.
 */
function expressionTrunk(
  g: GraphBuilder,
  weights: WeightSource,
  input: string,
  first = 0,
  last = DENSE_BLOCKS.length - 1,
  namePrefix = '',
): string {
  let x = input;
  for (let b = first; b <= last; b++) {
    const block = DENSE_BLOCKS[b]!;
    x = denseBlock(g, weights, x, block, `${namePrefix}${block}`);
  }
  return x;
}

/**
 * The trunk up to and including `last`, output `map` ([batch, channels, side, side]): the input
 * a fine-tuned later block trains on, computed by the same nodes as the shipped model.
 */
export function expressionTrunkPrefixGraph(weights: WeightSource, last: DenseBlockName): GraphBuilder {
  const g = new GraphBuilder('face_expression_trunk');
  const input = g.input('input', ['batch', 3, 112, 112]);
  const map = expressionTrunk(g, weights, input, 0, DENSE_BLOCKS.indexOf(last));
  g.node('Identity', [map], {}, 'map');
  const { side, channels } = DENSE_BLOCK_SHAPES[last];
  g.output('map', ['batch', channels, side, side]);
  return g;
}

/** face-api's fullyConnectedLayer on the pooled trunk: pooled · fc/weights + fc/bias. */
function fullyConnected(g: GraphBuilder, weights: WeightSource, pooled: string, output: string): string {
  const fcW = weights.get('fc/weights');
  const fcB = weights.get('fc/bias');
  return g.node(
    'Gemm',
    [pooled, g.constant('fc/weights', fcW.shape, fcW.data), g.constant('fc/bias', fcB.shape, fcB.data)],
    {},
    output,
  );
}

/** face-api's classifier on the pooled trunk: FC(256→7) then softmax, output `probs`. */
function expressionClassifier(g: GraphBuilder, weights: WeightSource, pooled: string): void {
  g.node('Softmax', [fullyConnected(g, weights, pooled, 'logits')], { axis: attr.int(1) }, 'probs');
}

/**
 * FaceExpressionNet: four dense blocks (FaceFeatureExtractor), global average pool, FC(256→7), softmax.
 * face-api runs it at 112×112; a network fine-tuned at another side (packages/train/python) runs at that.
 */
export function faceExpressionGraph(weights: WeightSource, side = 112): GraphBuilder {
  const g = new GraphBuilder('face_expression');
  const input = g.input('input', ['batch', 3, side, side]);
  const x = expressionTrunk(g, weights, input);
  const pooled = g.node('GlobalAveragePool', [x]);
  const embedding = g.node('Flatten', [pooled], { axis: attr.int(1) }, 'embedding');
  expressionClassifier(g, weights, embedding);
  g.output('embedding', ['batch', 256]);
  g.output('logits', ['batch', 7]);
  g.output('probs', ['batch', 7]);
  return g;
}

/**
 * FaceLandmark68Net: the same trunk (FaceFeatureExtractor, its own weights), the 7×7 average
 * pool, FC(256→136). `landmarks` holds 68 (x, y) pairs relative to the 112×112 padded input.
 */
export function faceLandmark68Graph(weights: WeightSource): GraphBuilder {
  const g = new GraphBuilder('face_landmark_68');
  const input = g.input('input', ['batch', 3, 112, 112]);
  const pooled = g.node('Flatten', [g.node('GlobalAveragePool', [expressionTrunk(g, weights, input)])], {
    axis: attr.int(1),
  });
  fullyConnected(g, weights, pooled, 'landmarks');
  g.output('landmarks', ['batch', 136]);
  return g;
}

/**
 * Which trunk features feed a learned head, each L2-normalised:
 * - `pooled`: the 256-d global average (face-api's own feature);
 * - `grid`: 3×3 average pools (3×3 windows, stride 2) of the 7×7 map, 2 304-d, which keep where
 *   on the face (brows, eyes, mouth) a feature fired.
 */
export type TrunkFeatures = 'pooled' | 'grid';

/** A head's input: trunk features, or `model`: the embedding of any expression model (its base). */
export type HeadInput = TrunkFeatures | 'model';

export const HEAD_INPUT_DIMS: Record<TrunkFeatures, number> = { pooled: 256, grid: 2304 };

/** The trunk features a head composed into the face-api graph reads; a `model` head has none. */
export function trunkFeaturesOf(head: Pick<ExpressionHead, 'input'>): TrunkFeatures {
  if (head.input === 'model') {
    throw new Error('a head over a base model is composed with composeBaseHead, not into the face-api graph');
  }
  return head.input;
}

/** One fully connected layer of a head: y = act(x · weight + bias), weight stored [in, out]. */
export interface HeadLayer {
  weight: Float32Array;
  bias: Float32Array;
  inputs: number;
  outputs: number;
  activation: 'relu' | 'none';
}

/** A fine-tuned trunk tensor, in face-api's (tfjs) name and layout, replacing the original. */
export interface TrunkTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface ExpressionHead {
  input: HeadInput;
  layers: HeadLayer[];
  /** Fine-tuned trunk tensors (whole dense blocks at the end of the trunk); none: the frozen trunk. */
  trunk?: TrunkTensor[];
}

/** The first dense block a head's fine-tuned tensors touch, or null for a frozen trunk. */
export function firstTunedBlock(head: Pick<ExpressionHead, 'trunk'>): number | null {
  if (!head.trunk?.length) return null;
  let first: number = DENSE_BLOCKS.length;
  for (const t of head.trunk) {
    const b = DENSE_BLOCKS.indexOf(t.name.split('/')[0] as DenseBlockName);
    if (b < 0) throw new Error(`fine-tuned tensor ${t.name} is not in a dense block of the trunk`);
    first = Math.min(first, b);
  }
  return first;
}

/**
 * The face-api trunk with a learned embedding head: `embedding` = L2(head(L2(features))) and
 * face-api's own `probs`, so labels stay what they were. With no layers, `embedding` is the
 * normalised head input itself: the features a head is trained on, from the same graph.
 *
 * With fine-tuned trunk tensors the blocks they belong to run twice from the shared earlier
 * blocks: the original ones feed face-api's classifier (`probs` stays exactly face-api's), the
 * fine-tuned ones feed the head.
 */
export function expressionWithHeadGraph(weights: WeightSource, head: ExpressionHead): GraphBuilder {
  const kind = trunkFeaturesOf(head);
  const g = new GraphBuilder('face_expression_head');
  const input = g.input('input', ['batch', 3, 112, 112]);
  const tunedFrom = firstTunedBlock(head);
  let map: string;
  let original: string;
  if (tunedFrom === null) {
    map = original = expressionTrunk(g, weights, input);
  } else {
    const shared = tunedFrom > 0 ? expressionTrunk(g, weights, input, 0, tunedFrom - 1) : input;
    original = expressionTrunk(g, weights, shared, tunedFrom);
    const tuned = weights.withReplaced(head.trunk!, 'fine-tuned trunk');
    map = expressionTrunk(g, tuned, shared, tunedFrom, DENSE_BLOCKS.length - 1, 'tuned/');
  }
  const pooled = g.node('Flatten', [g.node('GlobalAveragePool', [original])], { axis: attr.int(1) });
  expressionClassifier(g, weights, pooled);

  const features =
    kind === 'pooled'
      ? map === original
        ? pooled
        : g.node('Flatten', [g.node('GlobalAveragePool', [map])], { axis: attr.int(1) })
      : g.node(
          'Flatten',
          [g.node('AveragePool', [map], { kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]) })],
          { axis: attr.int(1) },
        );
  const normalised = g.node('LpNormalization', [features], { axis: attr.int(1), p: attr.int(2) });
  const { value, width } = denseLayers(g, normalised, head.layers, HEAD_INPUT_DIMS[kind]);
  g.node('LpNormalization', [value], { axis: attr.int(1), p: attr.int(2) }, 'embedding');
  g.output('embedding', ['batch', width]);
  g.output('probs', ['batch', 7]);
  return g;
}

/** A head's layers on `x` [batch, width]: Gemm with weight [in, out], ReLU where the layer says. */
function denseLayers(
  g: GraphBuilder,
  x: string,
  layers: readonly HeadLayer[],
  width: number,
): { value: string; width: number } {
  let value = x;
  layers.forEach((layer, i) => {
    if (layer.inputs !== width || layer.weight.length !== layer.inputs * layer.outputs) {
      throw new Error(`head layer ${i}: expects ${layer.inputs} inputs, gets ${width}`);
    }
    value = g.node('Gemm', [
      value,
      g.constant(`head/${i}/weight`, [layer.inputs, layer.outputs], layer.weight),
      g.constant(`head/${i}/bias`, [layer.outputs], layer.bias),
    ]);
    if (layer.activation === 'relu') value = g.node('Relu', [value]);
    width = layer.outputs;
  });
  return { value, width };
}

/**
 * A learned head on its own, for any expression model's (unit-length) embedding:
 * `features` [batch, inputs] → `embedding` [batch, dims], which the encoder L2-normalises.
 */
export function embeddingHeadGraph(layers: readonly HeadLayer[], inputs: number): GraphBuilder {
  const g = new GraphBuilder('embedding_head');
  const features = g.input('features', ['batch', inputs]);
  const { value, width } = denseLayers(g, features, layers, inputs);
  g.node('Identity', [value], {}, 'embedding');
  g.output('embedding', ['batch', width]);
  return g;
}
