/**
 * The smallest protobuf writer that can emit an ONNX ModelProto: varints, length-delimited
 * fields and fixed32 floats. Written here rather than pulling in protobufjs plus the onnx.proto
 * schema, because the converter emits a handful of message types and nothing ever parses them.
 */
export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private scratch: number[] = [];

  private flushScratch(): void {
    if (this.scratch.length > 0) {
      this.chunks.push(Uint8Array.from(this.scratch));
      this.scratch = [];
    }
  }

  private varint(value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.scratch.push(Number((v & 0x7fn) | 0x80n));
      v >>= 7n;
    }
    this.scratch.push(Number(v));
  }

  private tag(field: number, wireType: 0 | 2 | 5): void {
    this.varint((field << 3) | wireType);
  }

  int(field: number, value: number | bigint): this {
    this.tag(field, 0);
    this.varint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, 5);
    const buf = new DataView(new ArrayBuffer(4));
    buf.setFloat32(0, value, true);
    for (let i = 0; i < 4; i++) this.scratch.push(buf.getUint8(i));
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, 2);
    this.varint(value.byteLength);
    this.flushScratch();
    this.chunks.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  /** A nested message; its chunks are taken over as they are (no copy until the outermost finish). */
  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    inner.flushScratch();
    this.tag(field, 2);
    this.varint(inner.chunks.reduce((n, c) => n + c.byteLength, 0));
    this.flushScratch();
    for (const c of inner.chunks) this.chunks.push(c);
    return this;
  }

  finish(): Uint8Array {
    this.flushScratch();
    const total = this.chunks.reduce((n, c) => n + c.byteLength, 0);
    const out = new Uint8Array(total);
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.byteLength;
    }
    return out;
  }
}
