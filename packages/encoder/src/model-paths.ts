import { fileURLToPath } from 'node:url';

/** Where `npm run models` writes the converted models, one folder per model id. */
export const DEFAULT_MODELS_DIR = fileURLToPath(new URL('../models/', import.meta.url));
export const DEFAULT_EXPRESSION_MANIFEST = `${DEFAULT_MODELS_DIR}face-api-expression/manifest.json`;
export const DEFAULT_DETECTOR_MANIFEST = `${DEFAULT_MODELS_DIR}face-api-tiny-face-detector/manifest.json`;
/** The landmark model eye alignment uses unless a manifest names another. */
export const DEFAULT_LANDMARKS_MANIFEST = `${DEFAULT_MODELS_DIR}face-api-landmark-68/manifest.json`;
export const DEFAULT_IDENTITY_MANIFEST = `${DEFAULT_MODELS_DIR}face-api-recognition/manifest.json`;
