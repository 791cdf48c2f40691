import { attr, GraphBuilder } from '../onnx/graph.ts';
import { conv, depthwiseConv, type WeightSource } from './layers.ts';

/**
 * face-api's SsdMobilenetv1 face detector (1.7.15 source: ssdMobilenetv1/*), op for op.
 *
 * Input: 512×512 NCHW, already scaled to [-1, 1] by the caller (x / 127.5 - 1). Outputs, per
 * image, for its 5 118 anchors: `boxes` [batch, 5118, 4] decoded as face-api's outputLayer does
 * (ymin, xmin, ymax, xmax, relative to the padded square input, not clipped) and `scores`
 * [batch, 5118] (sigmoid of the face class). Thresholding, NMS and the correction for the
 * bottom/right padding happen in TS (detector.ts), as in face-api's locateFaces.
 */

// tf.batchNorm's epsilon in face-api's mobileNetV1.
const BATCH_NORM_EPSILON = 0.0010000000474974513;
// MobileNetV1 depthwise layers that step by 2.
const STRIDE_2_LAYERS = new Set([2, 4, 6, 12]);

export const SSD_INPUT_SIZE = 512;

export function ssdMobilenetV1Graph(w: WeightSource): GraphBuilder {
  const g = new GraphBuilder('ssd_mobilenetv1');
  const input = g.input('input', ['batch', 3, SSD_INPUT_SIZE, SSD_INPUT_SIZE]);
  const zero = g.constant('relu6/min', [], Float32Array.of(0));
  const six = g.constant('relu6/max', [], Float32Array.of(6));
  const relu6 = (x: string) => g.node('Clip', [x, zero, six]);

  // pointwiseConvLayer: conv2d 'same' + batch_norm_offset, clipped to [0, 6].
  const pointwise = (x: string, prefix: string, stride: number) =>
    relu6(
      conv(
        g,
        x,
        w.get(`${prefix}/weights`),
        w.get(`${prefix}/convolution_bn_offset`),
        prefix,
        stride,
        'same',
      ),
    );

  // depthwiseConvLayer: depthwise 'same', batch norm, clipped to [0, 6].
  const depthwise = (x: string, prefix: string, stride: number) => {
    const dw = depthwiseConv(g, x, w.get(`${prefix}/depthwise_weights`), prefix, stride, 'same');
    const bn = (name: string) => {
      const t = w.get(`${prefix}/BatchNorm/${name}`);
      return g.constant(`${prefix}/BatchNorm/${name}`, t.shape, t.data);
    };
    const normed = g.node(
      'BatchNormalization',
      [dw, bn('gamma'), bn('beta'), bn('moving_mean'), bn('moving_variance')],
      { epsilon: attr.float(BATCH_NORM_EPSILON) },
    );
    return relu6(normed);
  };

  let x = pointwise(input, 'MobilenetV1/Conv2d_0_pointwise', 2);
  let conv11 = '';
  for (let i = 1; i <= 13; i++) {
    x = depthwise(x, `MobilenetV1/Conv2d_${i}_depthwise`, STRIDE_2_LAYERS.has(i) ? 2 : 1);
    x = pointwise(x, `MobilenetV1/Conv2d_${i}_pointwise`, 1);
    if (i === 11) conv11 = x;
  }

  // predictionLayer: eight more pointwise layers, then six box predictors on six scales.
  const extra: string[] = [];
  let y = x;
  for (let i = 0; i < 8; i++) {
    y = pointwise(y, `Prediction/Conv2d_${i}_pointwise`, i % 2 === 1 ? 2 : 1);
    extra.push(y);
  }
  const sources = [conv11, x, extra[1]!, extra[3]!, extra[5]!, extra[7]!];
  // NCHW [batch, anchors × width, h, w] → NHWC → [batch, h × w × anchors, width], tfjs's order.
  const shapes = {
    4: g.int64Constant('per_anchor_4', [0, -1, 4]),
    3: g.int64Constant('per_anchor_3', [0, -1, 3]),
  };
  const perAnchor = (v: string, width: 3 | 4) =>
    g.node('Reshape', [g.node('Transpose', [v], { perm: attr.ints([0, 2, 3, 1]) }), shapes[width]]);
  const encodings: string[] = [];
  const classes: string[] = [];
  sources.forEach((source, i) => {
    const p = `Prediction/BoxPredictor_${i}`;
    const layer = (name: string) =>
      conv(g, source, w.get(`${p}/${name}/weights`), w.get(`${p}/${name}/biases`), `${p}/${name}`, 1, 'same');
    encodings.push(perAnchor(layer('BoxEncodingPredictor'), 4));
    classes.push(perAnchor(layer('ClassPredictor'), 3));
  });
  const encoding = g.node('Concat', encodings, { axis: attr.int(1) });
  const classScores = g.node('Concat', classes, { axis: attr.int(1) });

  decodeBoxes(g, w, encoding);
  const face = g.node('Gather', [classScores, g.int64Constant('face_class', [1])], { axis: attr.int(2) });
  g.node('Reshape', [g.node('Sigmoid', [face]), g.int64Constant('scores_shape', [0, -1])], {}, 'scores');

  const anchors = w.get('Output/extra_dim').shape[1]!;
  g.output('boxes', ['batch', anchors, 4]);
  g.output('scores', ['batch', anchors]);
  return g;
}

/**
 * face-api's decodeBoxesLayer against the anchors in `Output/extra_dim`. The anchors' sizes and
 * centres do not depend on the input, so they are computed here once, in float32 step by step as
 * tfjs computes them, and stored as constants.
 */
function decodeBoxes(g: GraphBuilder, w: WeightSource, encoding: string): void {
  const priors = w.get('Output/extra_dim');
  const n = priors.shape[1]!;
  const f = Math.fround;
  const sizes = [new Float32Array(n), new Float32Array(n)];
  const centres = [new Float32Array(n), new Float32Array(n)];
  for (let i = 0; i < n; i++) {
    const v = priors.data.subarray(i * 4, i * 4 + 4);
    for (const k of [0, 1]) {
      sizes[k]![i] = f(v[k + 2]! - v[k]!);
      centres[k]![i] = f(v[k]! + f(sizes[k]![i]! / 2));
    }
  }
  const column = (k: number) =>
    g.node('Gather', [encoding, g.int64Constant(`encoding_${k}`, [k])], { axis: attr.int(2) });
  const scalar = (name: string, v: number) => g.constant(name, [], Float32Array.of(v));
  const ten = scalar('decode/10', 10);
  const five = scalar('decode/5', 5);
  const two = scalar('decode/2', 2);
  const corners: string[][] = [[], []];
  for (const k of [0, 1]) {
    const size = g.constant(`anchor_size_${k}`, [1, n, 1], sizes[k]!);
    const centre = g.constant(`anchor_centre_${k}`, [1, n, 1], centres[k]!);
    // half = exp(e[k+2] / 5) * size / 2; mid = (e[k] / 10) * size + centre
    const half = g.node('Div', [
      g.node('Mul', [g.node('Exp', [g.node('Div', [column(k + 2), five])]), size]),
      two,
    ]);
    const mid = g.node('Add', [g.node('Mul', [g.node('Div', [column(k), ten]), size]), centre]);
    corners[k] = [g.node('Sub', [mid, half]), g.node('Add', [mid, half])];
  }
  // ymin, xmin, ymax, xmax
  g.node(
    'Concat',
    [corners[0]![0]!, corners[1]![0]!, corners[0]![1]!, corners[1]![1]!],
    { axis: attr.int(2) },
    'boxes',
  );
}
