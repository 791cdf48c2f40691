import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadExpressionModel } from '../composite.ts';
import { type ConvertedModel, writeFilesIfChanged } from './write-model.ts';

/**
 * Puts each committed composite (`<dir>/<id>.json`, its members named relative to
 * `models/<id>/`) beside the models it is made of, as `outDir/<id>/manifest.json`, and loads it
 * once: a composite whose members are missing or do not fit fails the install, not a search.
 */
export async function installComposites(dir: string, outDir: string): Promise<ConvertedModel[]> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.json')).sort();
  const installed: ConvertedModel[] = [];
  for (const file of files) {
    const text = await readFile(join(dir, file), 'utf8');
    const { id } = JSON.parse(text) as { id: string };
    if (`${id}.json` !== file)
      throw new Error(`${join(dir, file)}: its id is ${id}; name the file ${id}.json`);
    const target = join(outDir, id);
    const written = await writeFilesIfChanged(target, [['manifest.json', text]]);
    const manifestPath = join(target, 'manifest.json');
    await loadExpressionModel(manifestPath);
    installed.push({ id, manifestPath, written });
  }
  return installed;
}
