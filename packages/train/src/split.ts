import { InputError } from '@fever/errors';
import { type LabelledImage, Random } from '@fever/eval';

export interface Split {
  train: LabelledImage[];
  validation: LabelledImage[];
}

/**
 * A stratified split: each label gives `fraction` of its images (rounded, at least one when it has
 * two or more) to validation. Which ones depends only on the seed and the sorted paths, never on
 * the order of the CSV, so the same seed always holds out the same faces.
 */
export function stratifiedSplit(items: readonly LabelledImage[], fraction: number, seed: number): Split {
  if (!(fraction > 0 && fraction < 1)) {
    throw new InputError('BAD_FLAG', `the validation fraction must lie between 0 and 1, got ${fraction}`);
  }
  const byLabel = new Map<string, LabelledImage[]>();
  for (const item of items) {
    const list = byLabel.get(item.label) ?? [];
    list.push(item);
    byLabel.set(item.label, list);
  }
  const train: LabelledImage[] = [];
  const validation: LabelledImage[] = [];
  for (const label of [...byLabel.keys()].sort()) {
    const list = byLabel.get(label)!.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const random = new Random(`${seed}:split:${label}`);
    for (let i = list.length - 1; i > 0; i--) {
      const j = random.int(i + 1);
      [list[i], list[j]] = [list[j]!, list[i]!];
    }
    const held = list.length < 2 ? 0 : Math.max(1, Math.round(list.length * fraction));
    validation.push(...list.slice(0, held));
    train.push(...list.slice(held));
  }
  const byPath = (a: LabelledImage, b: LabelledImage) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  return { train: train.sort(byPath), validation: validation.sort(byPath) };
}
