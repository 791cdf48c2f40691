import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedData } from '@fever/encoder/testing';
import { describe, expect, it } from 'vitest';
import { PERSON_CLUSTER, runRetrievalEval } from '../retrieval/run.ts';
import { personFromName } from './describe.ts';
import { runPeopleEval } from './run.ts';

describe('personFromName', () => {
  it('takes the name before the trailing number', () => {
    expect(personFromName('images/Colin_Powell_0043.jpg')).toBe('Colin_Powell');
    expect(personFromName('images/Dileep_71.jpg')).toBe('Dileep');
    expect(personFromName('a/b/Madonna.png')).toBe('Madonna');
    expect(personFromName('0042.jpg')).toBe('0042');
  });
});

const ck = sharedData('ckplus48');

/** The first `n` subjects of CK+48 (every frame of theirs), as a labels CSV of their own. */
async function ckSubset(n: number): Promise<string> {
  const lines = (await readFile(join(ck!, 'labels.csv'), 'utf8')).trim().split('\n');
  const subjects = [...new Set(lines.slice(1).map((l) => l.split(',')[2]!))].slice(0, n);
  const dir = await mkdtemp(join(tmpdir(), 'fever-people-eval-'));
  const file = join(dir, 'labels.csv');
  const rows = lines.slice(1).filter((l) => subjects.includes(l.split(',')[2]!));
  await writeFile(file, `${lines[0]}\n${rows.map((r) => r.replace(/^/, `${ck}/`)).join('\n')}\n`);
  return file;
}

describe.skipIf(!ck)('people evaluation on CK+48 subjects', () => {
  it('person=other takes the own person out of the top 10, by cluster and by distance', async () => {
    const labels = await ckSubset(8);
    const result = await runPeopleEval({
      labels,
      root: '/',
      personColumn: 'subject',
      encoder: { device: 'cpu' },
    });
    expect(result.people.true).toBe(8);
    expect(result.images.used).toBe(result.images.total);
    // Same-subject frames dominate the plain top 10 on CK+ (3 frames a sequence).
    expect(result.search.plain.ownPersonShare).toBeGreaterThan(result.chanceOwnShare);
    expect(result.search.otherByCluster.ownPersonShare).toBeLessThan(result.search.plain.ownPersonShare);
    expect(result.search.otherByDistance.ownPersonShare).toBeLessThan(result.search.plain.ownPersonShare);
    const [clustering] = result.clustering;
    expect(clustering!.people).toBe(8);
    expect(clustering!.precision).toBeGreaterThan(0.5);
  }, 240_000);

  it('retrieval --group-by person-cluster leaves out the query cluster', async () => {
    const labels = await ckSubset(8);
    const result = await runRetrievalEval({
      labels,
      root: '/',
      groupBy: PERSON_CLUSTER,
      cacheDir: null,
      encoder: { device: 'cpu' },
    });
    const groups = result.report.labels.groups!;
    expect(groups).toBeGreaterThanOrEqual(8);
    expect(groups).toBeLessThan(result.report.labels.items);
    expect(result.params.groupBy).toBe(PERSON_CLUSTER);
  }, 240_000);
});
