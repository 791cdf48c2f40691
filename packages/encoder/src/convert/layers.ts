import { type AttributeValue, attr, type GraphBuilder } from '../onnx/graph.ts';
import type { Tensor } from './tfjs-weights.ts';

/**
 * tfjs → ONNX layer translation. tfjs keeps conv filters as HWIO ([kh, kw, in, out]) and
 * depthwise filters as [kh, kw, channels, 1]; ONNX Conv wants OIHW with `group` for depthwise.
 * TF "SAME" padding puts the odd pixel at the end, which is ONNX's SAME_UPPER.
 */

export type Padding = 'same' | 'valid' | { explicit: number };

export class WeightSource {
  constructor(
    private readonly tensors: Map<string, Tensor>,
    private readonly label: string,
  ) {}

  get(name: string): Tensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`${this.label}: weight ${name} is missing`);
    return t;
  }

  /** The same weights with some tensors replaced (fine-tuned ones); each must exist with the same shape. */
  withReplaced(replacements: readonly (Tensor & { name: string })[], label: string): WeightSource {
    const tensors = new Map(this.tensors);
    for (const r of replacements) {
      const original = this.get(r.name);
      const size = r.shape.reduce((a, b) => a * b, 1);
      if (r.shape.join('x') !== original.shape.join('x') || r.data.length !== size) {
        throw new Error(
          `${label}: ${r.name} has shape ${r.shape.join('x')} (${r.data.length} values), face-api's is ${original.shape.join('x')}`,
        );
      }
      tensors.set(r.name, { shape: r.shape, data: r.data });
    }
    return new WeightSource(tensors, label);
  }
}

function hwioToOihw({ shape, data }: Tensor): { dims: number[]; data: Float32Array } {
  const [kh, kw, cin, cout] = shape as [number, number, number, number];
  const out = new Float32Array(data.length);
  for (let h = 0; h < kh; h++)
    for (let w = 0; w < kw; w++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++) {
          out[((o * cin + i) * kh + h) * kw + w] = data[((h * kw + w) * cin + i) * cout + o]!;
        }
  return { dims: [cout, cin, kh, kw], data: out };
}

/** Depthwise [kh, kw, C, 1] → ONNX [C, 1, kh, kw] for a Conv with group = C. */
function depthwiseToOihw({ shape, data }: Tensor): { dims: number[]; data: Float32Array } {
  const [kh, kw, c, multiplier] = shape as [number, number, number, number];
  if (multiplier !== 1)
    throw new Error(`depthwise filter ${shape.join('x')}: only a channel multiplier of 1 is supported`);
  const out = new Float32Array(data.length);
  for (let h = 0; h < kh; h++)
    for (let w = 0; w < kw; w++)
      for (let ch = 0; ch < c; ch++) out[(ch * kh + h) * kw + w] = data[(h * kw + w) * c + ch]!;
  return { dims: [c, 1, kh, kw], data: out };
}

function paddingAttrs(padding: Padding): Record<string, AttributeValue> {
  if (padding === 'same') return { auto_pad: attr.string('SAME_UPPER') };
  if (padding === 'valid') return { auto_pad: attr.string('VALID') };
  const p = padding.explicit;
  return { pads: attr.ints([p, p, p, p]) };
}

export function conv(
  g: GraphBuilder,
  x: string,
  filter: Tensor,
  bias: Tensor | undefined,
  name: string,
  stride: number,
  padding: Padding,
): string {
  const w = hwioToOihw(filter);
  const inputs = [x, g.constant(`${name}/filters`, w.dims, w.data)];
  if (bias) inputs.push(g.constant(`${name}/bias`, [bias.data.length], bias.data));
  return g.node('Conv', inputs, {
    kernel_shape: attr.ints(w.dims.slice(2)),
    strides: attr.ints([stride, stride]),
    ...paddingAttrs(padding),
  });
}

/** tf.depthwiseConv2d with a channel multiplier of 1 (no bias). */
export function depthwiseConv(
  g: GraphBuilder,
  x: string,
  filter: Tensor,
  name: string,
  stride: number,
  padding: Padding,
): string {
  const dw = depthwiseToOihw(filter);
  return g.node('Conv', [x, g.constant(`${name}/depthwise_filter`, dw.dims, dw.data)], {
    group: attr.int(dw.dims[0]!),
    kernel_shape: attr.ints(dw.dims.slice(2)),
    strides: attr.ints([stride, stride]),
    ...paddingAttrs(padding),
  });
}

/**
 * tf.separableConv2d (depthwise with stride and padding, then a 1×1 pointwise) plus bias.
 * `name` prefixes the ONNX constants (default: the weights' prefix); a second copy of a layer
 * with other weights (a fine-tuned block beside the original) needs another.
 */
export function separableConv(
  g: GraphBuilder,
  x: string,
  weights: WeightSource,
  prefix: string,
  stride: number,
  padding: Padding,
  name = prefix,
): string {
  const depthwise = depthwiseConv(g, x, weights.get(`${prefix}/depthwise_filter`), name, stride, padding);
  const pointwise = weights.get(`${prefix}/pointwise_filter`);
  return conv(g, depthwise, pointwise, weights.get(`${prefix}/bias`), `${name}/pointwise`, 1, 'valid');
}
