import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readLabels } from './labels.ts';

async function csv(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fever-labels-'));
  const file = join(dir, 'labels.csv');
  await writeFile(file, text);
  return file;
}

describe('readLabels', () => {
  it('reads path, label and the group column, with paths from the CSV folder', async () => {
    const file = await csv('path,label,subject\na/1.png,happy,S1\n"b/2,x.png",sad,S2\n');
    const items = await readLabels(file, { groupBy: 'subject' });
    expect(items).toEqual([
      { path: 'a/1.png', file: join(file, '..', 'a/1.png'), label: 'happy', group: 'S1', line: 2 },
      { path: 'b/2,x.png', file: join(file, '..', 'b/2,x.png'), label: 'sad', group: 'S2', line: 3 },
    ]);
  });

  it.each([
    ['file,label\na,b\n', "line 1: the header (file,label) needs a 'path' and a 'label' column"],
    ['path,label\na.png,happy,extra\n', 'line 2: 3 columns, the header has 2'],
    ['path,label\na.png,\n', 'line 2: the label is empty'],
    ['path,label\na.png,x\na.png,y\n', 'line 3: a.png is listed again (first on line 2)'],
  ])('names the line of a broken file: %j', async (text, message) => {
    const file = await csv(text);
    await expect(readLabels(file)).rejects.toMatchObject({
      code: 'LABELS_INVALID',
      message: `labels CSV ${file} ${message}`,
    });
  });

  it('lists the columns when the group column is missing', async () => {
    const file = await csv('path,label\na.png,x\n');
    await expect(readLabels(file, { groupBy: 'subject' })).rejects.toMatchObject({
      code: 'GROUP_COLUMN_MISSING',
      message: `labels CSV ${file} has no column 'subject' to group by (columns: path, label)`,
    });
  });
});
