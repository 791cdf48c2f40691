import { createHash } from 'node:crypto';
import { InputError } from '@fever/errors';

/**
 * Every model version gets its own vector collection (vectors of two model versions are never
 * comparable) and every model one alias that readers use. Re-indexing for a new version fills a
 * new collection while the alias still serves the old one, then `swapAlias` moves readers over.
 */
export function modelCollectionName(modelId: string, version: string): string {
  return `faces__${slug(modelId)}__${slug(version)}`;
}

export function modelAliasName(modelId: string): string {
  return `faces__${slug(modelId)}`;
}

// Names become directory names (embedded) and URL path segments (Qdrant): keep them plain.
const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,199}$/;

export function assertName(name: string, what = 'collection'): void {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new InputError(
      'VECTORS_INVALID_NAME',
      `invalid ${what} name ${JSON.stringify(name)}: use 1-200 characters from A-Z a-z 0-9 _ -, starting with a letter or digit`,
    );
  }
}

/** Lower-case slug; a short hash is appended when characters were replaced, so ids stay distinct. */
function slug(value: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InputError('VECTORS_INVALID_NAME', 'model id and version must be non-empty strings');
  }
  const s = value
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60);
  if (s === value) return s;
  const hash = createHash('sha256').update(value).digest('hex').slice(0, 8);
  return s ? `${s}-${hash}` : hash;
}
