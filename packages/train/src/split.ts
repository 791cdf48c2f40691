import { InputError } from '@fever/errors';
import { type LabelledImage, Random } from '@fever/eval';

export interface Split {
  train: LabelledImage[];
  validation: LabelledImage[];
}

const byPath = (a: LabelledImage, b: LabelledImage) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/**
 * A stratified split that keeps identical images together: items with the same content key (the
 * image's sha256) form one group, and a group lands wholly on one side, so a held-out face never
 * has a byte-identical twin in training (FER2013 has 1 236 such copies). A group's label is its
 * first item's label in path order. Each label gives `fraction` of its groups (rounded, at least
 * one when it has two or more) to validation. Which ones depends only on the seed, the sorted
 * paths and the keys, never on the order of the CSV, so the same seed always holds out the same
 * faces. Items without a key (unreadable files) are groups of their own.
 */
export function stratifiedSplit(
  items: readonly LabelledImage[],
  fraction: number,
  seed: number,
  contentKey: (item: LabelledImage) => string | undefined = () => undefined,
): Split {
  if (!(fraction > 0 && fraction < 1)) {
    throw new InputError('BAD_FLAG', `the validation fraction must lie between 0 and 1, got ${fraction}`);
  }
  const groups = new Map<string, LabelledImage[]>();
  for (const item of [...items].sort(byPath)) {
    const key = contentKey(item);
    const id = key === undefined ? `path:${item.path}` : `key:${key}`;
    const group = groups.get(id) ?? [];
    group.push(item);
    groups.set(id, group);
  }
  // Groups in order of their first path (items were sorted, so that is each group's first item).
  const byLabel = new Map<string, LabelledImage[][]>();
  for (const group of groups.values()) {
    const label = group[0]!.label;
    const list = byLabel.get(label) ?? [];
    list.push(group);
    byLabel.set(label, list);
  }
  const train: LabelledImage[] = [];
  const validation: LabelledImage[] = [];
  for (const label of [...byLabel.keys()].sort()) {
    const list = byLabel.get(label)!.sort((a, b) => byPath(a[0]!, b[0]!));
    const random = new Random(`${seed}:split:${label}`);
    for (let i = list.length - 1; i > 0; i--) {
      const j = random.int(i + 1);
      [list[i], list[j]] = [list[j]!, list[i]!];
    }
    const held = list.length < 2 ? 0 : Math.max(1, Math.round(list.length * fraction));
    validation.push(...list.slice(0, held).flat());
    train.push(...list.slice(held).flat());
  }
  return { train: train.sort(byPath), validation: validation.sort(byPath) };
}
