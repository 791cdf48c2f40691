import { attr, GraphBuilder } from '../onnx/graph.ts';
import { conv, type WeightSource } from './layers.ts';

/**
 * face-api's FaceRecognitionNet (1.7.15 source: faceRecognitionNet/*), op for op: a ResNet-34-like
 * net (dlib's face descriptor) on a 150×150 face, NCHW, normalised (rgb - mean) / 255 by the
 * caller. Output `descriptor` [batch, 128], not normalised (face-api compares descriptors by
 * Euclidean distance, same person below about 0.6).
 */
export const RECOGNITION_INPUT_SIZE = 150;

export function faceRecognitionGraph(w: WeightSource): GraphBuilder {
  const g = new GraphBuilder('face_recognition');
  const input = g.input('input', ['batch', 3, RECOGNITION_INPUT_SIZE, RECOGNITION_INPUT_SIZE]);

  // convLayer: conv + bias, then the scale layer (x · weights + biases), then ReLU if asked.
  const convLayer = (x: string, prefix: string, stride: number, relu: boolean) => {
    const padding = stride === 2 ? 'valid' : 'same';
    const c = conv(
      g,
      x,
      w.get(`${prefix}/conv/filters`),
      w.get(`${prefix}/conv/bias`),
      `${prefix}/conv`,
      stride,
      padding,
    );
    const scale = (name: string) => {
      const t = w.get(`${prefix}/scale/${name}`);
      return g.constant(`${prefix}/scale/${name}`, [t.data.length, 1, 1], t.data);
    };
    const out = g.node('Add', [g.node('Mul', [c, scale('weights')]), scale('biases')]);
    return relu ? g.node('Relu', [out]) : out;
  };
  const residual = (x: string, prefix: string) => {
    const out = convLayer(convLayer(x, `${prefix}/conv1`, 1, true), `${prefix}/conv2`, 1, false);
    return g.node('Relu', [g.node('Add', [out, x])]);
  };
  /**
   * residualDown: the strided branch loses a row and a column against the 2×2 average pool on an
   * even side, which face-api pads back with zeros at the end; a branch with more channels gets the
   * pool's channels padded with zeros at the end.
   */
  const residualDown = (x: string, prefix: string, side: number, channelsIn: number, channelsOut: number) => {
    let out = convLayer(convLayer(x, `${prefix}/conv1`, 2, true), `${prefix}/conv2`, 1, false);
    const convSide = Math.floor((side - 3) / 2) + 1;
    const poolSide = Math.floor(side / 2);
    if (convSide !== poolSide) {
      const d = poolSide - convSide;
      out = g.node('Pad', [out, g.int64Constant(`${prefix}/pad_spatial`, [0, 0, 0, 0, 0, 0, d, d])]);
    }
    let pooled = g.node('AveragePool', [x], { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]) });
    if (channelsOut !== channelsIn) {
      const extra = channelsOut - channelsIn;
      pooled = g.node('Pad', [
        pooled,
        g.int64Constant(`${prefix}/pad_channels`, [0, 0, 0, 0, 0, extra, 0, 0]),
      ]);
    }
    return { value: g.node('Relu', [g.node('Add', [pooled, out])]), side: poolSide };
  };

  let x = convLayer(input, 'conv32_down', 2, true); // 150 → 72
  x = g.node('MaxPool', [x], { kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]) }); // → 35
  let side = 35;
  for (const p of ['conv32_1', 'conv32_2', 'conv32_3']) x = residual(x, p);
  const stages: [string, number, number, string[]][] = [
    ['conv64_down', 32, 64, ['conv64_1', 'conv64_2', 'conv64_3']],
    ['conv128_down', 64, 128, ['conv128_1', 'conv128_2']],
    ['conv256_down', 128, 256, ['conv256_1', 'conv256_2']],
    ['conv256_down_out', 256, 256, []],
  ];
  for (const [down, cin, cout, blocks] of stages) {
    ({ value: x, side } = residualDown(x, down, side, cin, cout));
    for (const p of blocks) x = residual(x, p);
  }
  const pooled = g.node('ReduceMean', [x], { axes: attr.ints([2, 3]), keepdims: attr.int(0) });
  const fc = w.get('fc');
  g.node('MatMul', [pooled, g.constant('fc', fc.shape, fc.data)], {}, 'descriptor');
  g.output('descriptor', ['batch', fc.shape[1]!]);
  return g;
}
