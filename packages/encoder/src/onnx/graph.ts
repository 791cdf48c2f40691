import { ProtoWriter } from './protobuf.ts';

/** ONNX TensorProto.DataType values used here. */
const FLOAT = 1;
const INT64 = 7;

// AttributeProto.AttributeType
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_INTS = 7;

export type AttributeValue =
  | { type: 'int'; value: number }
  | { type: 'float'; value: number }
  | { type: 'ints'; value: number[] }
  | { type: 'string'; value: string };

export const attr = {
  int: (value: number): AttributeValue => ({ type: 'int', value }),
  float: (value: number): AttributeValue => ({ type: 'float', value }),
  ints: (value: number[]): AttributeValue => ({ type: 'ints', value }),
  string: (value: string): AttributeValue => ({ type: 'string', value }),
};

interface NodeSpec {
  op: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attributes: Record<string, AttributeValue>;
}

interface Initializer {
  name: string;
  dims: number[];
  data: Float32Array | BigInt64Array;
}

interface ValueInfo {
  name: string;
  dims: (number | string)[];
}

/**
 * Builds a float32 ONNX graph node by node and serialises it as a ModelProto.
 * Node and tensor names are unique by construction (a counter), which ONNX requires.
 */
export class GraphBuilder {
  private nodes: NodeSpec[] = [];
  private initializers: Initializer[] = [];
  private inputs: ValueInfo[] = [];
  private outputs: ValueInfo[] = [];
  private counter = 0;

  constructor(private readonly name: string) {}

  input(name: string, dims: (number | string)[]): string {
    this.inputs.push({ name, dims });
    return name;
  }

  output(name: string, dims: (number | string)[]): void {
    this.outputs.push({ name, dims });
  }

  constant(name: string, dims: number[], data: Float32Array): string {
    const expected = dims.reduce((a, b) => a * b, 1);
    if (expected !== data.length) {
      throw new Error(
        `initializer ${name}: dims ${dims.join('x')} need ${expected} values, got ${data.length}`,
      );
    }
    this.initializers.push({ name, dims, data });
    return name;
  }

  /** An int64 initializer (shapes, indices, axes): what Reshape, Gather and Slice take. */
  int64Constant(name: string, values: readonly number[]): string {
    this.initializers.push({ name, dims: [values.length], data: BigInt64Array.from(values, BigInt) });
    return name;
  }

  /** Adds a node and returns the name of its (single) output; pass `output` to name it. */
  node(
    op: string,
    inputs: string[],
    attributes: Record<string, AttributeValue> = {},
    output?: string,
  ): string {
    const id = this.counter++;
    const out = output ?? `${op.toLowerCase()}_${id}`;
    this.nodes.push({ op, name: `${op}_${id}`, inputs, outputs: [out], attributes });
    return out;
  }

  toModel(options: {
    producer: string;
    producerVersion: string;
    opset: number;
    docString?: string;
  }): Uint8Array {
    const model = new ProtoWriter();
    model.int(1, 8); // ir_version 8 (ONNX 1.10+), understood by every current runtime
    model.string(2, options.producer);
    model.string(3, options.producerVersion);
    if (options.docString) model.string(6, options.docString);
    model.message(7, (g) => this.writeGraph(g));
    model.message(8, (o) => {
      o.string(1, '');
      o.int(2, options.opset);
    });
    return model.finish();
  }

  private writeGraph(g: ProtoWriter): void {
    for (const node of this.nodes) {
      g.message(1, (n) => {
        for (const i of node.inputs) n.string(1, i);
        for (const o of node.outputs) n.string(2, o);
        n.string(3, node.name);
        n.string(4, node.op);
        for (const [name, value] of Object.entries(node.attributes)) {
          n.message(5, (a) => writeAttribute(a, name, value));
        }
      });
    }
    g.string(2, this.name);
    for (const init of this.initializers) {
      g.message(5, (t) => {
        for (const d of init.dims) t.int(1, d);
        t.int(2, init.data instanceof Float32Array ? FLOAT : INT64);
        t.string(8, init.name);
        // raw_data is little-endian, which is what typed arrays hold on every platform Node runs on.
        t.bytes(9, new Uint8Array(init.data.buffer, init.data.byteOffset, init.data.byteLength));
      });
    }
    for (const info of this.inputs) g.message(11, (v) => writeValueInfo(v, info));
    for (const info of this.outputs) g.message(12, (v) => writeValueInfo(v, info));
  }
}

function writeAttribute(a: ProtoWriter, name: string, value: AttributeValue): void {
  a.string(1, name);
  switch (value.type) {
    case 'float':
      a.float(2, value.value);
      a.int(20, ATTR_FLOAT);
      break;
    case 'int':
      a.int(3, value.value);
      a.int(20, ATTR_INT);
      break;
    case 'string':
      a.string(4, value.value);
      a.int(20, ATTR_STRING);
      break;
    case 'ints':
      for (const v of value.value) a.int(8, v);
      a.int(20, ATTR_INTS);
      break;
  }
}

function writeValueInfo(v: ProtoWriter, info: ValueInfo): void {
  v.string(1, info.name);
  v.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, FLOAT);
      tensor.message(2, (shape) => {
        for (const d of info.dims) {
          shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
        }
      });
    }),
  );
}
