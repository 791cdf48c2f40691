import { DEFAULT_MODELS_DIR, FACE_API_EXPRESSION_MANIFEST } from '../model-paths.ts';

/** Largest |a[i] - b[i]| over two vectors of the same length. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} and ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * A composite expression model for tests: face-api's expression net (weight 0.7) and Human's
 * emotion net (0.3), 512-d, probabilities from face-api. Member paths are absolute.
 */
export function duoComposite(changes: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'duo',
    task: 'expression',
    members: [
      { manifest: FACE_API_EXPRESSION_MANIFEST, weight: 0.7 },
      { manifest: `${DEFAULT_MODELS_DIR}human-emotion/manifest.json`, weight: 0.3 },
    ],
    probsFrom: 'face-api-expression',
    ...changes,
  };
}
