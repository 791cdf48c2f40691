import { fileURLToPath } from 'node:url';

/** Where `npm run models` writes the converted models, one folder per model id. */
export const DEFAULT_MODELS_DIR = fileURLToPath(new URL('../models/', import.meta.url));
/** face-api's expression network, converted (fever's first default expression model). */
export const FACE_API_EXPRESSION_MANIFEST = `${DEFAULT_MODELS_DIR}face-api-expression/manifest.json`;
/**
 * The default expression model: face-api's network and Human's emotion network, mirrored
 * (packages/encoder/composites/fever-expression.json; docs/QUALITY.md section 0 says why).
 */
export const DEFAULT_EXPRESSION_MANIFEST = `${DEFAULT_MODELS_DIR}fever-expression/manifest.json`;
export const DEFAULT_DETECTOR_MANIFEST = `${DEFAULT_MODELS_DIR}face-api-tiny-face-detector/manifest.json`;
/** The landmark model eye alignment uses unless a manifest names another. */
export const DEFAULT_LANDMARKS_MANIFEST = `${DEFAULT_MODELS_DIR}face-api-landmark-68/manifest.json`;
export const DEFAULT_IDENTITY_MANIFEST = `${DEFAULT_MODELS_DIR}face-api-recognition/manifest.json`;

/** Where `npm run models` puts the manifest of the bundled model `id` (it may not be one). */
export function bundledManifestPath(id: string): string {
  return `${DEFAULT_MODELS_DIR}${id}/manifest.json`;
}

/** The bundled face detectors by the names FEVER_DETECTOR and --detector take. */
export const DETECTOR_MANIFESTS: Record<string, string> = {
  tiny: DEFAULT_DETECTOR_MANIFEST,
  'tiny-608': `${DEFAULT_MODELS_DIR}face-api-tiny-face-detector-608/manifest.json`,
  ssd: `${DEFAULT_MODELS_DIR}face-api-ssd-mobilenetv1/manifest.json`,
};

/** A detector choice (a bundled name, a manifest path, or nothing for the default) as a manifest path. */
export function detectorManifest(choice: string | undefined): string {
  if (choice === undefined) return DEFAULT_DETECTOR_MANIFEST;
  return DETECTOR_MANIFESTS[choice] ?? choice;
}
