import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { attr, type GraphBuilder } from '../onnx/graph.ts';
import { conv, depthwiseConv, type Padding } from './layers.ts';
import { readWeightGroups, type Tensor, type WeightGroup } from './tfjs-weights.ts';

/**
 * TFJS *graph* models (a frozen TensorFlow GraphDef as `model.json` + weight shards) → ONNX nodes.
 *
 * TF runs NHWC; the ONNX graph keeps every 4-D activation NCHW (what onnxruntime's CPU kernels
 * want, and what fever's preprocessing writes), so filters are transposed and axes remapped.
 * Only the ops fever's converted models use are mapped; any other op, fused op, data format or
 * attribute value is refused by name rather than converted approximately.
 */

interface TfAttr {
  s?: string;
  i?: string;
  f?: number;
  b?: boolean;
  list?: { s?: string[]; i?: string[] };
}

export interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfAttr>;
}

export interface TfjsGraphModel {
  /** Where it was read from, for messages. */
  label: string;
  nodes: Map<string, TfNode>;
  /** Const node values by node name. */
  weights: Map<string, Tensor>;
}

/** An imported activation: the ONNX value name, its rank, and its channel count. */
export interface ImportedTensor {
  value: string;
  rank: number;
  channels: number;
}

export async function readTfjsGraphModel(jsonPath: string): Promise<TfjsGraphModel> {
  const json = JSON.parse(await readFile(jsonPath, 'utf8')) as {
    format?: string;
    modelTopology: { node: TfNode[] };
    weightsManifest: WeightGroup[];
  };
  if (json.format !== 'graph-model') {
    throw new Error(`${jsonPath}: format is ${json.format}, not a tfjs graph-model`);
  }
  return {
    label: jsonPath,
    nodes: new Map(json.modelTopology.node.map((n) => [n.name, n])),
    weights: await readWeightGroups(json.weightsManifest, dirname(jsonPath), jsonPath),
  };
}

const decode = (s: string) => Buffer.from(s, 'base64').toString('latin1');

/** Node input names without the `:0` output index; control inputs (`^x`) are not data. */
export function dataInputs(node: TfNode): string[] {
  return (node.input ?? [])
    .filter((i) => !i.startsWith('^'))
    .map((i) => {
      const [name, index] = i.split(':');
      if (index !== undefined && index !== '0') {
        throw new Error(
          `node ${node.name}: input ${i} reads output ${index}; only single-output nodes are mapped`,
        );
      }
      return name!;
    });
}

/**
 * Adds the nodes of `model` that `inputs` feed to `g`, in dependency order, and returns every
 * imported activation by TF node name. `inputs` maps the graph's Placeholder names to ONNX
 * values already in `g` (NCHW).
 */
export function importTfjsGraph(
  g: GraphBuilder,
  model: TfjsGraphModel,
  inputs: Record<string, ImportedTensor>,
): Map<string, ImportedTensor> {
  const done = new Map<string, ImportedTensor>(Object.entries(inputs));
  const fail = (node: TfNode, why: string): never => {
    throw new Error(`${model.label}: node ${node.name} (${node.op}): ${why}`);
  };
  const weight = (node: TfNode, name: string): Tensor => {
    const t = model.weights.get(name);
    if (!t) fail(node, `input ${name} is not a constant with stored weights`);
    return t!;
  };
  const visiting = new Set<string>();
  const visit = (name: string): ImportedTensor => {
    const known = done.get(name);
    if (known) return known;
    const node = model.nodes.get(name);
    if (!node) throw new Error(`${model.label}: node ${name} is missing`);
    if (node.op === 'Placeholder') fail(node, 'graph input without a value (pass it in `inputs`)');
    if (node.op === 'Const') fail(node, 'a constant where an activation is expected');
    if (visiting.has(name)) fail(node, 'the graph has a cycle');
    visiting.add(name);
    const out = importNode(
      g,
      node,
      visit,
      (n) => weight(node, n),
      (why) => fail(node, why),
    );
    visiting.delete(name);
    done.set(name, out);
    return out;
  };
  for (const node of model.nodes.values()) {
    if (node.op !== 'Const' && node.op !== 'Placeholder') visit(node.name);
  }
  return done;
}

/** NHWC strides/ksize [1, s, s, 1] → s; non-square or batch/channel steps are refused. */
function spatial(values: string[] | undefined, what: string, fail: (why: string) => never): number {
  const v = (values ?? []).map(Number);
  if (v.length !== 4 || v[0] !== 1 || v[3] !== 1 || v[1] !== v[2]) {
    fail(`${what} [${v.join(', ')}] is not [1, s, s, 1]`);
  }
  return v[1]!;
}

function convGeometry(node: TfNode, fail: (why: string) => never): { stride: number; padding: Padding } {
  const a = node.attr ?? {};
  const format = a.data_format?.s ? decode(a.data_format.s) : 'NHWC';
  if (format !== 'NHWC') fail(`data_format ${format}`);
  if (a.dilations && spatial(a.dilations.list?.i, 'dilations', fail) !== 1) fail('dilated convolution');
  return { stride: spatial(a.strides?.list?.i, 'strides', fail), padding: padding(node, fail) };
}

function padding(node: TfNode, fail: (why: string) => never): Padding {
  const p = node.attr?.padding?.s ? decode(node.attr.padding.s) : '';
  // TF SAME puts the odd pixel at the end, which is ONNX's SAME_UPPER (layers.ts).
  if (p === 'SAME') return 'same';
  if (p === 'VALID') return 'valid';
  return fail(`padding ${p || '(none)'}`);
}

function importNode(
  g: GraphBuilder,
  node: TfNode,
  visit: (name: string) => ImportedTensor,
  weight: (name: string) => Tensor,
  fail: (why: string) => never,
): ImportedTensor {
  const inputs = dataInputs(node);
  const a = node.attr ?? {};
  const activation = (i: number) => visit(inputs[i] ?? fail(`input ${i} is missing`));
  switch (node.op) {
    case 'Identity':
      return activation(0);
    case 'Relu': {
      const x = activation(0);
      return { ...x, value: g.node('Relu', [x.value]) };
    }
    case 'AddV2': {
      const [x, y] = [activation(0), activation(1)];
      if (x.rank !== y.rank || x.channels !== y.channels) fail('operands of different shapes');
      return { ...x, value: g.node('Add', [x.value, y.value]) };
    }
    case '_FusedConv2D': {
      const x = activation(0);
      const filter = weight(inputs[1]!);
      const fused = (a.fused_ops?.list?.s ?? []).map(decode);
      if (fused[0] !== 'BiasAdd' || fused.length > 2 || (fused[1] !== undefined && fused[1] !== 'Relu')) {
        fail(`fused ops [${fused.join(', ')}]; only BiasAdd and BiasAdd+Relu are mapped`);
      }
      if (Number(a.num_args?.i ?? 1) !== 1 || inputs.length !== 3) fail('expects exactly one bias argument');
      if (filter.shape[2] !== x.channels) fail(`filter ${filter.shape.join('x')} on ${x.channels} channels`);
      const { stride, padding } = convGeometry(node, fail);
      let value = conv(g, x.value, filter, weight(inputs[2]!), node.name, stride, padding);
      if (fused[1] === 'Relu') value = g.node('Relu', [value]);
      return { value, rank: 4, channels: filter.shape[3]! };
    }
    case 'DepthwiseConv2dNative': {
      const x = activation(0);
      const filter = weight(inputs[1]!);
      if (filter.shape[2] !== x.channels) fail(`filter ${filter.shape.join('x')} on ${x.channels} channels`);
      const { stride, padding } = convGeometry(node, fail);
      return {
        value: depthwiseConv(g, x.value, filter, node.name, stride, padding),
        rank: 4,
        channels: x.channels,
      };
    }
    case 'MaxPool': {
      const x = activation(0);
      const format = a.data_format?.s ? decode(a.data_format.s) : 'NHWC';
      if (format !== 'NHWC') fail(`data_format ${format}`);
      const k = spatial(a.ksize?.list?.i, 'ksize', fail);
      const stride = spatial(a.strides?.list?.i, 'strides', fail);
      const pad = padding(node, fail);
      const value = g.node('MaxPool', [x.value], {
        kernel_shape: attr.ints([k, k]),
        strides: attr.ints([stride, stride]),
        auto_pad: attr.string(pad === 'same' ? 'SAME_UPPER' : 'VALID'),
      });
      return { ...x, value };
    }
    case 'Mean': {
      const x = activation(0);
      const axes = [...weight(inputs[1]!).data].sort();
      // Only the spatial mean (global average pooling): NHWC axes 1, 2 are NCHW axes 2, 3.
      if (x.rank !== 4 || axes.join(',') !== '1,2') fail(`mean over axes [${axes.join(', ')}]`);
      const keep = a.keep_dims?.b === true;
      const value = g.node('ReduceMean', [x.value], {
        axes: attr.ints([2, 3]),
        keepdims: attr.int(keep ? 1 : 0),
      });
      return { value, rank: keep ? 4 : 2, channels: x.channels };
    }
    case 'Softmax': {
      const x = activation(0);
      if (x.rank !== 2) fail(`softmax over a rank-${x.rank} tensor`);
      return { ...x, value: g.node('Softmax', [x.value], { axis: attr.int(1) }) };
    }
    default:
      return fail('op not mapped to ONNX');
  }
}
