/**
 * What a request may name on the server: paths that lead (links resolved) under one of the
 * folders FEVER_INDEX_ROOTS lists. The API's runs and evaluations ask here; the CLI reads
 * wherever its user points it.
 */
import { isAbsolute } from 'node:path';
import { FeverError, InputError, NotFoundError } from '@fever/errors';
import { confine, realRoots } from '@fever/files';

/**
 * The real path of `source` when it leads under one of `roots`, else 403. Whether a path outside
 * the roots exists is never revealed: it is refused before that is asked.
 */
export async function allowedSource(source: string, roots: readonly string[]): Promise<string> {
  if (roots.length === 0) {
    throw new FeverError(
      'INDEX_RUNS_DISABLED',
      'this server starts no index runs: set FEVER_INDEX_ROOTS to the folders it may index',
      { status: 403 },
    );
  }
  if (!isAbsolute(source))
    throw new InputError('INVALID_SOURCE', `source must be an absolute path, got '${source}'`);
  const confined = await confine(source, await realRoots(roots));
  if (confined.ok) return confined.real;
  if (confined.reason === 'missing') {
    throw new NotFoundError('SOURCE_NOT_FOUND', `source '${source}' does not exist`);
  }
  throw new FeverError('SOURCE_NOT_ALLOWED', `source '${source}' is not under any of FEVER_INDEX_ROOTS`, {
    status: 403,
  });
}
