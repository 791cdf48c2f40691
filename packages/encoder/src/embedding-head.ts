import { ModelError } from './errors.ts';
import { type ExecutionProvider, ort } from './session.ts';

/**
 * A learned head over an expression model's embedding (a composite's `head`): one onnxruntime
 * run over a batch of unit vectors, `features` [n, inputs] → `embedding` [n, dims].
 */
export class EmbeddingHead {
  constructor(
    private readonly session: ort.InferenceSession,
    readonly provider: ExecutionProvider,
    readonly inputs: number,
    readonly dims: number,
  ) {}

  async close(): Promise<void> {
    await this.session.release();
  }

  /** The head's raw outputs, one row per vector (the caller normalises them). */
  async apply(vectors: readonly Float32Array[]): Promise<Float32Array[]> {
    if (vectors.length === 0) return [];
    const x = new Float32Array(vectors.length * this.inputs);
    for (const [i, v] of vectors.entries()) x.set(v, i * this.inputs);
    const input = new ort.Tensor('float32', x, [vectors.length, this.inputs]);
    const out = await this.session.run({ features: input }, ['embedding']);
    const data = out.embedding!.data as Float32Array;
    input.dispose();
    out.embedding!.dispose();
    if (data.length !== vectors.length * this.dims) {
      throw new ModelError(
        'MODEL_OUTPUT_MISMATCH',
        `the embedding head returned ${data.length / vectors.length} values per face, its manifest says ${this.dims}`,
      );
    }
    return vectors.map((_, i) => data.slice(i * this.dims, (i + 1) * this.dims));
  }
}
