import { readFile } from 'node:fs/promises';
import { FeverError } from '@fever/errors';
import { atomicWriteFile } from './fsutil.ts';

/**
 * Aliases of the embedded store: one small JSON file beside the collections, rewritten
 * atomically, so a swap is all-or-nothing even across a crash.
 */
export class AliasFile {
  private constructor(
    private readonly path: string,
    private map: Map<string, string>,
  ) {}

  static async load(path: string): Promise<AliasFile> {
    try {
      const raw = JSON.parse(await readFile(path, 'utf8')) as {
        version: number;
        aliases: Record<string, string>;
      };
      if (raw.version !== 1 || typeof raw.aliases !== 'object') throw new Error('unknown format');
      return new AliasFile(path, new Map(Object.entries(raw.aliases)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new AliasFile(path, new Map());
      throw new FeverError('VECTORS_CORRUPT', `alias file ${path} is unreadable`, { cause: err });
    }
  }

  get(alias: string): string | undefined {
    return this.map.get(alias);
  }

  entries(): Record<string, string> {
    return Object.fromEntries([...this.map].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** Applies a change and persists it; memory changes only after the file is safely replaced. */
  async update(change: (next: Map<string, string>) => void): Promise<void> {
    const next = new Map(this.map);
    change(next);
    await atomicWriteFile(
      this.path,
      `${JSON.stringify({ version: 1, aliases: Object.fromEntries(next) }, null, 2)}\n`,
    );
    this.map = next;
  }
}
