import { attr, GraphBuilder } from '@fever/encoder';
import * as ort from 'onnxruntime-node';

/**
 * Matrix products on onnxruntime's CPU kernels (MLAS, multi-threaded), so that training runs
 * at BLAS speed without a native dependency beyond the one fever already has: a one-node Gemm
 * graph per transpose combination, with dynamic shapes. 30–100× faster than loops in JS for
 * the head's shapes. MLAS splits the output, not the sums, across threads: results are the same
 * run to run.
 */
export class Gemm {
  private constructor(private readonly sessions: Map<string, ort.InferenceSession>) {}

  static async create(threads = 0): Promise<Gemm> {
    const sessions = new Map<string, ort.InferenceSession>();
    for (const transA of [0, 1]) {
      for (const transB of [0, 1]) {
        const g = new GraphBuilder('gemm');
        const a = g.input('a', transA ? ['k', 'm'] : ['m', 'k']);
        const b = g.input('b', transB ? ['n', 'k'] : ['k', 'n']);
        g.node('Gemm', [a, b], { transA: attr.int(transA), transB: attr.int(transB) }, 'y');
        g.output('y', ['m', 'n']);
        const model = g.toModel({ producer: 'fever', producerVersion: '1', opset: 17 });
        sessions.set(
          `${transA}${transB}`,
          await ort.InferenceSession.create(model, {
            intraOpNumThreads: threads,
            interOpNumThreads: 1,
            executionMode: 'sequential',
            graphOptimizationLevel: 'all',
          }),
        );
      }
    }
    return new Gemm(sessions);
  }

  /**
   * op(A) · op(B), where op transposes when asked. A is stored [rows, cols] as given by `a`;
   * `aShape`/`bShape` are the stored shapes.
   */
  async product(
    a: Float32Array,
    aShape: [number, number],
    b: Float32Array,
    bShape: [number, number],
    options: { transA?: boolean; transB?: boolean } = {},
  ): Promise<Float32Array> {
    const key = `${options.transA ? 1 : 0}${options.transB ? 1 : 0}`;
    const session = this.sessions.get(key)!;
    const ta = new ort.Tensor('float32', a, aShape);
    const tb = new ort.Tensor('float32', b, bShape);
    const out = await session.run({ a: ta, b: tb });
    const y = out.y!;
    const data = y.data as Float32Array;
    ta.dispose();
    tb.dispose();
    return data;
  }

  async close(): Promise<void> {
    for (const s of this.sessions.values()) await s.release();
  }
}
