import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelManifest } from '../manifest.ts';
import { sha256Bytes } from '../sha256.ts';

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
      sha256: sha256Bytes(await readFile(join(dir, file))),
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
  const written = await writeFilesIfChanged(dir, [
    [manifest.file, onnx],
    ['manifest.json', `${JSON.stringify(manifest, null, 2)}\n`],
  ]);
  return { id: manifest.id, manifestPath, written };
}

/**
 * Writes the files under `dir`, in order and each atomically, unless every one already holds
 * these bytes (so a second install rewrites nothing). Returns whether it wrote.
 */
export async function writeFilesIfChanged(
  dir: string,
  files: readonly [name: string, content: Uint8Array | string][],
): Promise<boolean> {
  const same = await Promise.all(
    files.map(([name, content]) =>
      readFile(join(dir, name)).then(
        (bytes) => bytes.equals(typeof content === 'string' ? Buffer.from(content) : content),
        () => false,
      ),
    ),
  );
  if (same.every(Boolean)) return false;
  await mkdir(dir, { recursive: true });
  for (const [name, content] of files) await writeAtomic(join(dir, name), content);
  return true;
}

async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}
