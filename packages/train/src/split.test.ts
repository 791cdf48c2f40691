import type { LabelledImage } from '@fever/eval';
import { describe, expect, it } from 'vitest';
import { stratifiedSplit } from './split.ts';

const item = (path: string, label: string): LabelledImage => ({
  path,
  file: `/x/${path}`,
  label,
  group: null,
  line: 0,
});
const set = [
  ...Array.from({ length: 100 }, (_, i) => item(`happy/${i}.jpg`, 'happy')),
  ...Array.from({ length: 30 }, (_, i) => item(`sad/${i}.jpg`, 'sad')),
  item('rare/0.jpg', 'rare'),
  item('rare/1.jpg', 'rare'),
];

describe('stratifiedSplit', () => {
  it('holds out the share of every label, at least one of a label with two or more, and nothing twice', () => {
    const { train, validation } = stratifiedSplit(set, 0.1, 1);
    const count = (list: LabelledImage[], label: string) => list.filter((i) => i.label === label).length;
    expect(count(validation, 'happy')).toBe(10);
    expect(count(validation, 'sad')).toBe(3);
    expect(count(validation, 'rare')).toBe(1);
    expect(train.length + validation.length).toBe(set.length);
    const held = new Set(validation.map((i) => i.path));
    expect(train.some((i) => held.has(i.path))).toBe(false);
  });

  it('depends on the seed and the paths, not on the order of the CSV', () => {
    const a = stratifiedSplit(set, 0.2, 7).validation.map((i) => i.path);
    const b = stratifiedSplit([...set].reverse(), 0.2, 7).validation.map((i) => i.path);
    const c = stratifiedSplit(set, 0.2, 8).validation.map((i) => i.path);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it('keeps byte-identical images on one side, whatever their labels and the CSV order', () => {
    // 40 pairs of twins (same content key), some with conflicting labels, among single images.
    const twins = Array.from({ length: 40 }, (_, i) => [
      item(`happy/twin-${i}-a.jpg`, 'happy'),
      item(`${i % 5 === 0 ? 'sad' : 'happy'}/twin-${i}-b.jpg`, i % 5 === 0 ? 'sad' : 'happy'),
    ]).flat();
    const all = [...set, ...twins];
    const key = (i: LabelledImage) => /twin-(\d+)/.exec(i.path)?.[1];
    for (const seed of [1, 2, 3]) {
      const { train, validation } = stratifiedSplit(all, 0.3, seed, key);
      const held = new Set<string | undefined>(validation.map(key).filter((k) => k !== undefined));
      const straddling = train.filter((i) => held.has(key(i)));
      expect(straddling).toEqual([]);
      expect(train.length + validation.length).toBe(all.length);
      // Still stratified: about 30% of the happy groups (100 singles + 40 twin groups) are held.
      const happyGroups = new Set(validation.filter((i) => i.label === 'happy').map((i) => key(i) ?? i.path))
        .size;
      expect(happyGroups).toBeGreaterThanOrEqual(40);
      expect(happyGroups).toBeLessThanOrEqual(44);
      const reversed = stratifiedSplit([...all].reverse(), 0.3, seed, key);
      expect(reversed.validation.map((i) => i.path)).toEqual(validation.map((i) => i.path));
    }
  });

  it('refuses a share outside (0, 1)', () => {
    expect(() => stratifiedSplit(set, 1, 1)).toThrow(/between 0 and 1/);
  });
});
