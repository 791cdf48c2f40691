/** How a clustering agrees with true identities, over pairs of faces. */
export interface PairwiseAgreement {
  /** Of the pairs put in one cluster, the share that are one true person. */
  precision: number;
  /** Of the pairs that are one true person, the share put in one cluster. */
  recall: number;
  clusters: number;
  people: number;
}

/** Pairwise precision and recall of `predicted` against `truth` (one label per face each). */
export function pairwiseAgreement(
  predicted: ArrayLike<number | string>,
  truth: ArrayLike<number | string>,
): PairwiseAgreement {
  if (predicted.length !== truth.length) throw new RangeError('predicted and truth differ in length');
  const cells = new Map<string, number>();
  const rows = new Map<number | string, number>();
  const cols = new Map<number | string, number>();
  for (let i = 0; i < predicted.length; i++) {
    const p = predicted[i]!;
    const t = truth[i]!;
    const key = `${p}\u0000${t}`;
    cells.set(key, (cells.get(key) ?? 0) + 1);
    rows.set(p, (rows.get(p) ?? 0) + 1);
    cols.set(t, (cols.get(t) ?? 0) + 1);
  }
  const pairs = (m: Map<unknown, number>) => [...m.values()].reduce((s, n) => s + (n * (n - 1)) / 2, 0);
  const both = pairs(cells);
  const together = pairs(rows);
  const same = pairs(cols);
  return {
    precision: together === 0 ? 1 : both / together,
    recall: same === 0 ? 1 : both / same,
    clusters: rows.size,
    people: cols.size,
  };
}
