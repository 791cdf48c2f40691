import {
  DEFAULT_EXPRESSION_MANIFEST,
  Encoder,
  type EncoderOptions,
  type Face,
  hasProbs,
  loadExpressionModel,
} from '@fever/encoder';
import { InputError } from '@fever/errors';
import type { EmbeddingOutput } from './cache.ts';

/** The model behind a figure: enough to name it in a paper and to refuse a mixed-up comparison. */
export interface ModelRef {
  id: string;
  version: string;
  /** sha256 of the ONNX file (of a composite: the digest of its members, weights and options). */
  sha256: string;
  /** Absolute path of the manifest. */
  manifest: string;
  labels: string[] | null;
}

/**
 * A model named by its manifest. The manifest and file checksum are read at once (they key the
 * cache), while onnxruntime is only started when a face has to be embedded: a run served wholly
 * from the cache never loads it.
 */
export class ModelHandle {
  private started: Promise<Encoder> | undefined;

  private constructor(
    readonly ref: ModelRef,
    private readonly hasProbs: boolean,
    private readonly options: EncoderOptions,
  ) {}

  static async load(manifest: string | undefined, options: Omit<EncoderOptions, 'expressionModel'>) {
    // Refuses anything but an expression model (MODEL_WRONG_TASK); a composite is one.
    const loaded = await loadExpressionModel(manifest ?? DEFAULT_EXPRESSION_MANIFEST);
    const m = loaded.manifest;
    const ref: ModelRef = {
      id: m.id,
      version: m.version,
      sha256: m.sha256,
      manifest: loaded.manifestPath,
      labels: m.labels ?? null,
    };
    return new ModelHandle(ref, hasProbs(m), {
      ...options,
      expressionModel: loaded.manifestPath,
    });
  }

  get name(): string {
    return `${this.ref.id}@${this.ref.version}`;
  }

  /** Refuses an output the model does not have, before any work is done. */
  checkOutputs(outputs: readonly EmbeddingOutput[]): void {
    if (outputs.includes('probs') && !this.hasProbs) {
      throw new InputError(
        'OUTPUT_UNAVAILABLE',
        `model ${this.name} (${this.ref.manifest}) has no probs output; use --output embedding`,
      );
    }
  }

  encoder(): Promise<Encoder> {
    this.started ??= Encoder.create(this.options);
    return this.started;
  }

  async close(): Promise<void> {
    if (this.started) await (await this.started).close();
  }
}

/** The vector a model output gives for one face: the L2-normalised feature, or the class probabilities as they are. */
export function vectorOf(face: Pick<Face, 'embedding' | 'probs'>, output: EmbeddingOutput): Float32Array {
  if (output === 'embedding') return face.embedding;
  if (!face.probs) throw new InputError('OUTPUT_UNAVAILABLE', 'the model returned no probabilities');
  return face.probs;
}
