/**
 * Stable person ids across re-clusterings. Each new cluster is matched to the old person whose
 * faces it holds most of, greedily from the largest overlap down, each old person used once:
 *   - a cluster that did not change keeps its id;
 *   - a merge of old people keeps the id of the one it overlaps most (the larger);
 *   - a split keeps the id on the part holding most of the old person; the other parts get new ids;
 *   - a cluster of faces no old person held gets a new id.
 * Ties go to the lower (older) old id, then to the lower cluster number, so the result does not
 * depend on input order.
 */

export interface StableIdResult<Id> {
  /** The person id of each cluster (by cluster number); undefined: needs a new id. */
  ids: (Id | undefined)[];
  /** Old ids that no cluster kept (merged away or gone). */
  retired: Id[];
  /** For each retired id that was merged into a kept one: the kept id it went into. */
  mergedInto: Map<Id, Id>;
}

/**
 * `labels[i]`: the new cluster of face i; `previous[i]`: its old person id, or undefined if it had
 * none. Ids must compare with `<` (numbers or strings).
 */
export function stableIds<Id extends number | string>(
  labels: ArrayLike<number>,
  count: number,
  previous: readonly (Id | undefined)[],
): StableIdResult<Id> {
  const overlap = new Map<string, { cluster: number; id: Id; n: number }>();
  const oldIds = new Set<Id>();
  for (let i = 0; i < labels.length; i++) {
    const id = previous[i];
    if (id === undefined) continue;
    oldIds.add(id);
    const key = `${labels[i]}\u0000${id}`;
    const entry = overlap.get(key);
    if (entry) entry.n++;
    else overlap.set(key, { cluster: labels[i]!, id, n: 1 });
  }
  const pairs = [...overlap.values()].sort(
    (a, b) => b.n - a.n || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) || a.cluster - b.cluster,
  );
  const ids: (Id | undefined)[] = new Array(count).fill(undefined);
  const used = new Set<Id>();
  for (const p of pairs) {
    if (ids[p.cluster] !== undefined || used.has(p.id)) continue;
    ids[p.cluster] = p.id;
    used.add(p.id);
  }
  const retired = [...oldIds].filter((id) => !used.has(id));
  const mergedInto = new Map<Id, Id>();
  for (const p of pairs) {
    const kept = ids[p.cluster];
    if (kept !== undefined && !used.has(p.id) && !mergedInto.has(p.id)) mergedInto.set(p.id, kept);
  }
  return { ids, retired, mergedInto };
}
