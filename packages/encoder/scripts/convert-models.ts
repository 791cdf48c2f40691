/**
 * Runs at `npm install` (root postinstall) and by `npm run models`, with no network: converts
 * face-api's and Human's bundled tfjs weights into the ONNX models fever runs, builds the networks
 * fever fine-tuned itself (`trained/<id>/`, weights made by packages/train/python), composes each
 * committed learned head (`heads/<name>/head.json`) with the face-api trunk or its base model,
 * and installs the committed composites (`composites/<id>.json`) beside their members. A second
 * run rewrites nothing.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { composeBaseHead } from '../src/convert/base-head.ts';
import { installComposites } from '../src/convert/composites.ts';
import { composeHeadModel, convertFaceApiModels } from '../src/convert/face-api.ts';
import { listHeadDirs, readHeadFiles } from '../src/convert/head-files.ts';
import { convertHumanModels } from '../src/convert/human.ts';
import { convertTrainedModels } from '../src/convert/trained.ts';
import { DEFAULT_MODELS_DIR } from '../src/model-paths.ts';

const HEADS_DIR = fileURLToPath(new URL('../heads/', import.meta.url));
const TRAINED_DIR = fileURLToPath(new URL('../trained/', import.meta.url));
const COMPOSITES_DIR = fileURLToPath(new URL('../composites/', import.meta.url));

const started = performance.now();
const models = [
  ...(await convertFaceApiModels(DEFAULT_MODELS_DIR)),
  ...(await convertHumanModels(DEFAULT_MODELS_DIR)),
  ...(await convertTrainedModels(TRAINED_DIR, DEFAULT_MODELS_DIR)),
];
for (const dir of await listHeadDirs(HEADS_DIR)) {
  const { file, head } = await readHeadFiles(dir);
  const out = `${DEFAULT_MODELS_DIR}${file.id}`;
  models.push(
    file.base
      ? await composeBaseHead(out, file.id, join(dir, file.base.manifest), head.layers)
      : await composeHeadModel(out, file.id, head, file.weights.sha256),
  );
}
// Composites last: they are made of the models above.
models.push(...(await installComposites(COMPOSITES_DIR, DEFAULT_MODELS_DIR)));
for (const m of models) {
  console.log(`models: ${m.id} ${m.written ? 'written to' : 'up to date at'} ${m.manifestPath}`);
}
console.log(`models: done in ${Math.round(performance.now() - started)} ms`);
