import { constants, type Dirent } from 'node:fs';
import { access, readdir, readFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { InputError, NotFoundError } from '@fever/errors';
import { confine } from '@fever/files';
import { csvRecords, isBlank } from '../csv/tokenize.ts';

/** Why a triplet's image URL did not lead to a file. Stable: reports count by it. */
export type MissingReason =
  | 'not-in-map'
  | 'map-path-missing'
  | 'map-path-not-allowed'
  | 'not-in-folder'
  | 'ambiguous-basename';

export type Resolution = { path: string } | { reason: MissingReason; detail: string };

export interface ImageSource {
  /** Folder holding the downloaded images (searched recursively). */
  images?: string;
  /** CSV `url,path` (header optional); relative paths are taken from `images`, else from the CSV's folder. */
  map?: string;
  /**
   * Real paths of the folders the images may be read from (the API's FEVER_INDEX_ROOTS): a path
   * the map names is used only if it leads (links resolved) under one of them, and one that does
   * not is refused whether or not it exists. Undefined: any path.
   */
  within?: readonly string[];
}

/**
 * Finds the local file of an FEC image URL, with no network: first the mapping CSV that users'
 * downloaders write, then the folder, by the URL as a relative path (generated triplets use
 * paths as URLs) and by the URL's basename (what `wget -P dir` keeps). A basename that two files
 * share is refused rather than guessed, as it would silently score the wrong face.
 */
export class ImageResolver {
  private constructor(
    private readonly folder: string | undefined,
    private readonly byRelative: Set<string>,
    private readonly byBasename: Map<string, string[]>,
    private readonly map: Map<string, string> | undefined,
    private readonly within: readonly string[] | undefined,
  ) {}

  static async create(source: ImageSource): Promise<ImageResolver> {
    if (!source.images && !source.map) {
      throw new InputError('IMAGES_SOURCE_MISSING', 'an image folder or a url,path map CSV is needed');
    }
    const folder = source.images ? resolve(source.images) : undefined;
    const byRelative = new Set<string>();
    const byBasename = new Map<string, string[]>();
    if (folder) {
      for (const rel of await listFiles(folder)) {
        byRelative.add(rel);
        const name = basename(rel);
        const list = byBasename.get(name);
        if (list) list.push(rel);
        else byBasename.set(name, [rel]);
      }
    }
    const map = source.map ? await readMap(resolve(source.map), folder) : undefined;
    return new ImageResolver(folder, byRelative, byBasename, map, source.within);
  }

  async resolve(url: string): Promise<Resolution> {
    const mapped = this.map?.get(url);
    if (mapped !== undefined) {
      if (this.within) {
        const confined = await confine(mapped, this.within);
        if (!confined.ok && confined.reason === 'outside') {
          return {
            reason: 'map-path-not-allowed',
            detail: `the map names ${mapped}, which is outside the folders this server may read`,
          };
        }
        if (confined.ok) return { path: confined.real };
      } else if (await exists(mapped)) {
        return { path: mapped };
      }
      return { reason: 'map-path-missing', detail: `the map names ${mapped}, which does not exist` };
    }
    if (!this.folder) return { reason: 'not-in-map', detail: 'the URL is not in the map CSV' };
    if (!/^[a-z][a-z0-9+.-]*:/i.test(url)) {
      const rel = relative(this.folder, resolve(this.folder, url));
      if (this.byRelative.has(rel)) return { path: join(this.folder, rel) };
    }
    const names = urlBasenames(url);
    for (const name of names) {
      const found = this.byBasename.get(name);
      if (!found) continue;
      if (found.length > 1) {
        return {
          reason: 'ambiguous-basename',
          detail: `${found.length} files are named ${name} (${found.slice(0, 3).join(', ')}…)`,
        };
      }
      return { path: join(this.folder, found[0]!) };
    }
    return {
      reason: 'not-in-folder',
      detail: `no file named ${names[0] ?? '(empty basename)'} under ${this.folder}`,
    };
  }
}

/** The last path segment of a URL, as given and percent-decoded (downloaders keep either). */
function urlBasenames(url: string): string[] {
  const path = url.replace(/[?#].*$/, '');
  const name = path.slice(path.lastIndexOf('/') + 1);
  const names = name ? [name] : [];
  try {
    const decoded = decodeURIComponent(name);
    if (decoded !== name && decoded) names.push(decoded);
  } catch {
    // Not valid percent-encoding: only the name as given can match.
  }
  return names;
}

async function listFiles(folder: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(folder, { recursive: true, withFileTypes: true });
  } catch (err) {
    throw new NotFoundError(
      'IMAGES_FOLDER_NOT_FOUND',
      `image folder ${folder} cannot be read: ${message(err)}`,
      {
        cause: err,
      },
    );
  }
  return entries.filter((e) => e.isFile()).map((e) => relative(folder, join(e.parentPath, e.name)));
}

async function readMap(file: string, folder: string | undefined): Promise<Map<string, string>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new NotFoundError('MAP_NOT_FOUND', `map CSV ${file} cannot be read: ${message(err)}`, {
      cause: err,
    });
  }
  const base = folder ?? dirname(file);
  const map = new Map<string, string>();
  const lineOf = new Map<string, number>();
  let first = true;
  for (const record of csvRecords(text)) {
    if (isBlank(record)) continue;
    const bad = (why: string) =>
      new InputError('MAP_CSV_INVALID', `map CSV ${file} line ${record.line}: ${why}`);
    if (record.error) throw bad(record.error);
    const isHeader = first && record.fields.map((f) => f.trim().toLowerCase()).join(',') === 'url,path';
    first = false;
    if (isHeader) continue;
    if (record.fields.length !== 2) throw bad(`${record.fields.length} columns, expected 2 (url,path)`);
    const [url, path] = record.fields.map((f) => f.trim()) as [string, string];
    if (!url || !path) throw bad(url ? 'the path is empty' : 'the url is empty');
    const abs = isAbsolute(path) ? path : resolve(base, path);
    const previous = map.get(url);
    if (previous !== undefined && previous !== abs) {
      throw bad(`url ${url} is mapped again, to a different path (first on line ${lineOf.get(url)})`);
    }
    map.set(url, abs);
    lineOf.set(url, record.line);
  }
  return map;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
