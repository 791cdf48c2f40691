/**
 * `fever people …` and `fever search --person/--diverse` as a user runs them: the compiled CLI in
 * child processes, embedded mode, the face-api sample photos with a scaled and a mirrored copy.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writePeoplePhotos } from '@fever/core/testing';
import { samplePhotos } from '@fever/encoder/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { runFever, type TestEnv, tempDir } from '../harness/harness.ts';

/** The pretty-printed JSON document in a command's output (logs go around it). */
function printed(output: string): unknown {
  const lines = output.split('\n');
  const start = lines.indexOf('{');
  const end = lines.indexOf('}', start);
  return JSON.parse(lines.slice(start, end + 1).join('\n'));
}

describe('fever people and person-aware fever search', () => {
  let env: TestEnv;
  let photos: string;

  beforeAll(async () => {
    const root = tempDir('people-cli');
    photos = join(root, 'photos');
    mkdirSync(photos);
    await writePeoplePhotos(photos, samplePhotos().slice(0, 3));
    env = { dataDir: join(root, 'data') };
    const indexed = await runFever(['index', photos, '--collection', 'family'], env);
    expect(indexed.code, indexed.output).toBe(0);
    const bare = await runFever(
      ['index', join(photos, '0.jpg'), '--collection', 'bare', '--no-identity'],
      env,
    );
    expect(bare.code, bare.output).toBe(0);
    expect(bare.output).toContain('indexed without identity descriptors');
  }, 300_000);

  it('clusters, lists, names and shows people; refuses bad input with the reason', async () => {
    const empty = await runFever(['people', 'list', '--collection', 'family'], env);
    expect(empty.output).toContain('no people yet');
    const clustered = await runFever(['people', 'cluster', '--collection', 'family', '--json'], env);
    expect(clustered.code, clustered.output).toBe(0);
    const result = printed(clustered.output) as {
      people: number;
      faces: number;
    };
    expect(result.faces).toBeGreaterThan(result.people);

    const list = await runFever(['people', 'list', '--collection', 'family', '--json'], env);
    const page = printed(list.output) as {
      people: { id: number; faceCount: number }[];
    };
    const top = page.people[0]!;
    expect(top.faceCount).toBeGreaterThan(1);
    const renamed = await runFever(['people', 'rename', String(top.id), 'Grandma'], env);
    expect(renamed.output).toContain('is now Grandma');
    const shown = await runFever(['people', 'show', String(top.id)], env);
    expect(shown.output).toMatch(new RegExp(`person ${top.id} Grandma in 'family': ${top.faceCount} faces`));

    const search = await runFever(
      ['search', join(photos, '0-small.jpg'), '--collection', 'family', '--person', 'other', '--json'],
      env,
    );
    expect(search.code, search.output).toBe(0);
    const diverse = await runFever(
      ['search', join(photos, '0.jpg'), '--collection', 'family', '--diverse', 'true', '--json'],
      env,
    );
    const hits = (
      printed(diverse.output) as {
        faces: { results: { personId: number }[] }[];
      }
    ).faces[0]!.results;
    expect(new Set(hits.map((h) => h.personId)).size).toBe(hits.length);

    const tooLong = await runFever(['people', 'rename', String(top.id), 'x'.repeat(1000)], env);
    expect(tooLong.code).not.toBe(0);
    expect(tooLong.output).toContain('INVALID_PERSON_NAME');
    const unknown = await runFever(['people', 'show', '99999'], env);
    expect(unknown.code).not.toBe(0);
    expect(unknown.output).toContain('PERSON_NOT_FOUND');
    const bare = await runFever(
      ['search', join(photos, '0.jpg'), '--collection', 'bare', '--person', 'other'],
      env,
    );
    expect(bare.code).not.toBe(0);
    expect(bare.output).toContain('without identity descriptors');
    const badFlag = await runFever(['search', join(photos, '0.jpg'), '--person', 'me'], env);
    expect(badFlag.output).toContain('--person');
  }, 300_000);
});
