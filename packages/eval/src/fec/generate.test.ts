import { describe, expect, it } from 'vitest';
import type { LabelledImage } from '../labels.ts';
import { formatFecCsv, makeTriplets } from './generate.ts';
import { majorityAnswer } from './majority.ts';
import { parseFecCsv } from './parse.ts';

// 4 labels × 3 subjects × 2 images.
const items: LabelledImage[] = ['anger', 'happy', 'sad', 'surprise'].flatMap((label) =>
  ['S1', 'S2', 'S3'].flatMap((subject) =>
    [1, 2].map((n, i) => ({
      path: `${label}/${subject}_${n}.png`,
      file: `/data/${label}/${subject}_${n}.png`,
      label,
      group: subject,
      line: i + 2,
    })),
  ),
);
const byPath = new Map(items.map((i) => [i.path, i]));

describe('makeTriplets', () => {
  it('draws two faces of one label and one of another, from three different groups', () => {
    const triplets = makeTriplets(items, { count: 50, seed: 1, groupBy: true });
    expect(triplets).toHaveLength(50);
    for (const t of triplets) {
      const faces = t.faces.map((p) => byPath.get(p)!);
      const odd = faces[t.odd - 1]!;
      const pair = faces.filter((_, i) => i !== t.odd - 1);
      expect(pair[0]!.label).toBe(pair[1]!.label);
      expect(odd.label).not.toBe(pair[0]!.label);
      expect(new Set(faces.map((f) => f.group)).size).toBe(3);
    }
    // The odd face is not always in the same place.
    expect(new Set(triplets.map((t) => t.odd)).size).toBe(3);
  });

  it('is reproducible from the seed and never repeats a triplet', () => {
    const a = makeTriplets(items, { count: 40, seed: 9 });
    expect(makeTriplets(items, { count: 40, seed: 9 })).toEqual(a);
    expect(makeTriplets(items, { count: 40, seed: 10 })).not.toEqual(a);
    const keys = a.map((t) => {
      const pair = t.faces.filter((_, i) => i !== t.odd - 1).sort();
      return `${pair.join('|')}|${t.faces[t.odd - 1]}`;
    });
    expect(new Set(keys).size).toBe(40);
  });

  it('refuses a count the set cannot supply, and a set with one label', () => {
    expect(() => makeTriplets(items.slice(0, 4), { count: 1000, seed: 1, groupBy: true })).toThrow(
      expect.objectContaining({ code: 'TRIPLETS_IMPOSSIBLE' }),
    );
    expect(() => makeTriplets(items.slice(0, 12), { count: 10_000, seed: 1 })).toThrow(
      expect.objectContaining({ code: 'TRIPLETS_EXHAUSTED' }),
    );
  });
});

describe('formatFecCsv', () => {
  it('writes rows the FEC parser reads back, with six annotators naming the odd face', () => {
    const triplets = makeTriplets(items, { count: 20, seed: 3, groupBy: true });
    const parsed = parseFecCsv(formatFecCsv(triplets));
    expect(parsed.malformed).toEqual([]);
    expect(parsed.triplets).toHaveLength(20);
    parsed.triplets.forEach((t, i) => {
      expect(t.type).toBe('TWO_CLASS_TRIPLET');
      expect(t.faces.map((f) => f.url)).toEqual(triplets[i]!.faces);
      expect(
        t.faces.every((f) => f.box.left === 0 && f.box.right === 1 && f.box.top === 0 && f.box.bottom === 1),
      ).toBe(true);
      expect(t.annotations).toHaveLength(6);
      expect(majorityAnswer(t.annotations.map((a) => a.answer))).toBe(triplets[i]!.odd);
    });
  });
});
