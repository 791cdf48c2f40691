import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { InputError, NotFoundError } from '@fever/errors';
import { csvRecords, isBlank } from './csv/tokenize.ts';

/** One row of a labelled image set (`path,label[,more columns]`, with a header). */
export interface LabelledImage {
  /** As written in the CSV. */
  path: string;
  /** Absolute: `path` taken from the root folder. */
  file: string;
  label: string;
  /** The value of the group-by column, when one is named. */
  group: string | null;
  line: number;
}

/**
 * Reads a labels CSV. A broken labels file is a setup error, not data to skip: it stops the run
 * with the file, line and column named. `root` defaults to the CSV's folder.
 */
export async function readLabels(
  file: string,
  options: { root?: string; groupBy?: string } = {},
): Promise<LabelledImage[]> {
  const path = resolve(file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new NotFoundError(
      'LABELS_NOT_FOUND',
      `labels CSV ${path} cannot be read: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const root = resolve(options.root ?? dirname(path));
  let header: string[] | undefined;
  let pathCol = -1;
  let labelCol = -1;
  let groupCol = -1;
  const items: LabelledImage[] = [];
  const seen = new Map<string, number>();
  for (const record of csvRecords(text)) {
    if (isBlank(record)) continue;
    const bad = (why: string) =>
      new InputError('LABELS_INVALID', `labels CSV ${path} line ${record.line}: ${why}`);
    if (record.error) throw bad(record.error);
    const fields = record.fields.map((f) => f.trim());
    if (!header) {
      header = fields;
      pathCol = header.indexOf('path');
      labelCol = header.indexOf('label');
      if (pathCol < 0 || labelCol < 0) {
        throw bad(`the header (${header.join(',')}) needs a 'path' and a 'label' column`);
      }
      if (options.groupBy !== undefined) {
        groupCol = header.indexOf(options.groupBy);
        if (groupCol < 0) {
          throw new InputError(
            'GROUP_COLUMN_MISSING',
            `labels CSV ${path} has no column '${options.groupBy}' to group by (columns: ${header.join(', ')})`,
          );
        }
      }
      continue;
    }
    if (fields.length !== header.length)
      throw bad(`${fields.length} columns, the header has ${header.length}`);
    const rel = fields[pathCol]!;
    const label = fields[labelCol]!;
    if (!rel) throw bad('the path is empty');
    if (!label) throw bad('the label is empty');
    const group = groupCol >= 0 ? fields[groupCol]! : null;
    if (group === '') throw bad(`the ${options.groupBy} column is empty`);
    const previous = seen.get(rel);
    if (previous !== undefined) throw bad(`${rel} is listed again (first on line ${previous})`);
    seen.set(rel, record.line);
    items.push({
      path: rel,
      file: isAbsolute(rel) ? rel : resolve(root, rel),
      label,
      group,
      line: record.line,
    });
  }
  if (!header) throw new InputError('LABELS_INVALID', `labels CSV ${path} is empty`);
  return items;
}
