/**
 * Runs at `npm install` (root postinstall) and by `npm run models`: converts face-api's bundled
 * tfjs weights into the ONNX models fever runs. No network; a second run rewrites nothing.
 */
import { convertFaceApiModels } from '../src/convert/face-api.ts';
import { DEFAULT_MODELS_DIR } from '../src/encoder.ts';

const started = performance.now();
const models = await convertFaceApiModels(DEFAULT_MODELS_DIR);
for (const m of models) {
  console.log(`models: ${m.id} ${m.written ? 'written to' : 'up to date at'} ${m.manifestPath}`);
}
console.log(`models: done in ${Math.round(performance.now() - started)} ms`);
