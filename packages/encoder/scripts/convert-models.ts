/**
 * Runs at `npm install` (root postinstall) and by `npm run models`: converts face-api's and
 * Human's bundled tfjs weights into the ONNX models fever runs, then composes each committed learned head
 * (`heads/<name>/head.json`) with the face-api trunk. No network; a second run rewrites nothing.
 */
import { fileURLToPath } from 'node:url';
import { composeHeadModel, convertFaceApiModels } from '../src/convert/face-api.ts';
import { listHeadDirs, readHeadFiles } from '../src/convert/head-files.ts';
import { convertHumanModels } from '../src/convert/human.ts';
import { DEFAULT_MODELS_DIR } from '../src/encoder.ts';

const HEADS_DIR = fileURLToPath(new URL('../heads/', import.meta.url));

const started = performance.now();
const models = [
  ...(await convertFaceApiModels(DEFAULT_MODELS_DIR)),
  ...(await convertHumanModels(DEFAULT_MODELS_DIR)),
];
for (const dir of await listHeadDirs(HEADS_DIR)) {
  const { file, head } = await readHeadFiles(dir);
  models.push(await composeHeadModel(`${DEFAULT_MODELS_DIR}${file.id}`, file.id, head, file.weights.sha256));
}
for (const m of models) {
  console.log(`models: ${m.id} ${m.written ? 'written to' : 'up to date at'} ${m.manifestPath}`);
}
console.log(`models: done in ${Math.round(performance.now() - started)} ms`);
