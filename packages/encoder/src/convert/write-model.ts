import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ModelManifest, sha256Hex } from '../manifest.ts';

export interface ConvertedModel {
  id: string;
  manifestPath: string;
  written: boolean;
}

/**
 * The sha256 of each file a model was converted from, named `<label>/<file>` (label: the npm
 * package and version), for the manifest's `sources`.
 */
export async function sourceDigests(
  dir: string,
  label: string,
  files: readonly string[],
): Promise<NonNullable<ModelManifest['sources']>> {
  return Promise.all(
    files.map(async (file) => ({
      path: `${label}/${file}`,
      sha256: sha256Hex(await readFile(join(dir, file))),
    })),
  );
}

/** Writes model.onnx and manifest.json under `dir` unless both already hold these bytes. */
export async function writeModel(
  dir: string,
  manifest: ModelManifest,
  onnx: Uint8Array,
): Promise<ConvertedModel> {
  const manifestPath = join(dir, 'manifest.json');
  const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
  const unchanged =
    (await readFile(manifestPath, 'utf8').then(
      (text) => text === manifestText,
      () => false,
    )) &&
    (await readFile(join(dir, manifest.file)).then(
      (bytes) => sha256Hex(bytes) === manifest.sha256,
      () => false,
    ));
  if (!unchanged) {
    await mkdir(dir, { recursive: true });
    await writeAtomic(join(dir, manifest.file), onnx);
    await writeAtomic(manifestPath, manifestText);
  }
  return { id: manifest.id, manifestPath, written: !unchanged };
}

async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}
