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

  it('refuses a share outside (0, 1)', () => {
    expect(() => stratifiedSplit(set, 1, 1)).toThrow(/between 0 and 1/);
  });
});
