import { ModelError } from './errors.ts';
import { loadModel, type ModelManifest } from './manifest.ts';
import { expressionInput, type FaceCrop } from './preprocess.ts';
import { createSession, type Device, type ExecutionProvider, ort } from './session.ts';

/**
 * One ONNX network over face crops (an expression member, the landmark or the identity net): each
 * crop is cropped, resized and normalised as the manifest says, and the network runs in batches.
 */
export class FaceNetwork {
  constructor(
    private readonly session: ort.InferenceSession,
    readonly manifest: ModelManifest,
    readonly provider: ExecutionProvider,
    readonly batchSize: number,
  ) {}

  async close(): Promise<void> {
    await this.session.release();
  }

  /**
   * The named outputs for each crop: `[face][output]`, each a copy of that face's row. The next
   * batch is cropped and resized in JS while onnxruntime runs the current one on its own threads.
   */
  async run(crops: readonly FaceCrop[], outputs: readonly string[]): Promise<Float32Array[][]> {
    const rows: Float32Array[][] = [];
    let running: Promise<Float32Array[][]> | null = null;
    for (let start = 0; start < crops.length; start += this.batchSize) {
      const batch = crops.slice(start, start + this.batchSize);
      const { data, dims } = expressionInput(batch, this.manifest);
      const input = new ort.Tensor('float32', data, dims);
      if (running) rows.push(...(await running));
      running = this.runBatch(input, batch.length, outputs);
    }
    if (running) rows.push(...(await running));
    return rows;
  }

  private async runBatch(
    input: ort.Tensor,
    count: number,
    outputs: readonly string[],
  ): Promise<Float32Array[][]> {
    const out = await this.session.run({ [this.manifest.input.name]: input }, [...outputs]);
    const data = outputs.map((name) => out[name]!.data as Float32Array);
    const rows = Array.from({ length: count }, (_, i) =>
      data.map((d) => {
        const width = d.length / count;
        return d.slice(i * width, (i + 1) * width);
      }),
    );
    input.dispose();
    for (const t of Object.values(out)) t.dispose();
    return rows;
  }

  /** Refuses an embedding whose width is not the manifest's `embeddingDims`. */
  checkDims(row: Float32Array): void {
    const { embeddingDims, id } = this.manifest;
    if (embeddingDims !== undefined && row.length !== embeddingDims) {
      throw new ModelError(
        'MODEL_OUTPUT_MISMATCH',
        `model ${id} returned ${row.length} values per face in ${this.manifest.outputs.embedding}, but its manifest says embeddingDims ${embeddingDims}`,
      );
    }
  }
}

/** A face network from its manifest on its own session (landmark and identity nets, benchmarks, tests). */
export async function openFaceNetwork(
  manifestPath: string,
  options: { device?: Device; threads?: number; batchSize?: number } = {},
): Promise<FaceNetwork> {
  const model = await loadModel(manifestPath);
  const { session, provider } = await createSession(
    model.bytes,
    `${model.manifest.id}@${model.manifest.version}`,
    {
      device: options.device ?? 'cpu',
      threads: options.threads ?? 0,
    },
  );
  return new FaceNetwork(session, model.manifest, provider, options.batchSize ?? 32);
}
