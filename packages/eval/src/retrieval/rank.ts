/**
 * Tie-aware retrieval metrics for one query. Candidates at exactly the same distance form a tie
 * group, and every metric is the exact expectation over all orderings of each tie group, so that
 * no tie-break can favour the right label. (Label files are sorted by label: breaking ties by
 * input order would put same-label images first and inflate every figure.)
 */
export interface QueryStats {
  /** Per k: expected kNN label accuracy (a vote tie among t labels counts 1/t). */
  knn: number[];
  /** Per k: the expected share of each predicted label (sums to 1), for confusion matrices. */
  predicted: Float64Array[];
  /** Per k: true when a tie group straddles rank k, so the neighbour set depends on the tie-break. */
  tieAtK: boolean[];
  /** Expected precision at `precisionK`. */
  precision: number;
  tieAtPrecisionK: boolean;
  /** Expected average precision; null when no candidate shares the query's label. */
  averagePrecision: number | null;
  relevant: number;
  candidates: number;
  /** Tie groups that hold both relevant and other candidates: the ones that move average precision. */
  mixedTieGroups: number;
}

export function rankQuery(
  distances: Float64Array,
  labels: Int32Array,
  trueLabel: number,
  numLabels: number,
  ks: readonly number[],
  precisionK: number,
): QueryStats {
  const n = distances.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => distances[a]! - distances[b]!);
  // Tie groups in rank order: [start, end) into `order`.
  const groups: [number, number][] = [];
  for (let s = 0; s < n; ) {
    let e = s + 1;
    while (e < n && distances[order[e]!] === distances[order[s]!]) e++;
    groups.push([s, e]);
    s = e;
  }
  let relevant = 0;
  for (let i = 0; i < n; i++) if (labels[i] === trueLabel) relevant++;

  // Average precision: for a tie group of g items (t relevant) after s items (r relevant), a
  // relevant item at position j of the group is preceded by 1 + (j-1)(t-1)/(g-1) relevant ones in
  // expectation, and each position holds a relevant item with probability t/g.
  let apSum = 0;
  let mixedTieGroups = 0;
  let before = 0;
  let relevantBefore = 0;
  for (const [s, e] of groups) {
    const g = e - s;
    let t = 0;
    for (let i = s; i < e; i++) if (labels[order[i]!] === trueLabel) t++;
    if (t > 0 && t < g) mixedTieGroups++;
    if (t > 0) {
      for (let j = 1; j <= g; j++) {
        const hitsUpTo = relevantBefore + 1 + (g > 1 ? ((j - 1) * (t - 1)) / (g - 1) : 0);
        apSum += ((t / g) * hitsUpTo) / (before + j);
      }
    }
    before += g;
    relevantBefore += t;
  }

  const knn: number[] = [];
  const predicted: Float64Array[] = [];
  const tieAtK: boolean[] = [];
  for (const k of ks) {
    const r = topK(order, groups, labels, Math.min(k, n), numLabels);
    const { credit, shares } = expectedVote(r, trueLabel, numLabels);
    knn.push(credit);
    predicted.push(shares);
    tieAtK.push(r.draws > 0 && r.draws < r.groupLabels.reduce((a, [, m]) => a + m, 0));
  }
  const p = topK(order, groups, labels, Math.min(precisionK, n), numLabels);
  const groupSize = p.groupLabels.reduce((a, [, m]) => a + m, 0);
  const groupRelevant = p.groupLabels.find(([l]) => l === trueLabel)?.[1] ?? 0;
  const expectedHits =
    (p.fixed[trueLabel] ?? 0) + (groupSize > 0 ? (p.draws * groupRelevant) / groupSize : 0);
  return {
    knn,
    predicted,
    tieAtK,
    precision: n === 0 ? 0 : expectedHits / Math.min(precisionK, n),
    tieAtPrecisionK: p.draws > 0 && p.draws < groupSize,
    averagePrecision: relevant === 0 ? null : apSum / relevant,
    relevant,
    candidates: n,
    mixedTieGroups,
  };
}

interface TopK {
  /** Label counts of the groups wholly inside the top k. */
  fixed: number[];
  /** Label counts of the group that straddles rank k, and how many of it fall inside. */
  groupLabels: [number, number][];
  draws: number;
}

function topK(
  order: readonly number[],
  groups: readonly [number, number][],
  labels: Int32Array,
  k: number,
  numLabels: number,
): TopK {
  const fixed = new Array<number>(numLabels).fill(0);
  for (const [s, e] of groups) {
    if (e <= k) {
      for (let i = s; i < e; i++) fixed[labels[order[i]!]!]!++;
      if (e === k) break;
      continue;
    }
    const counts = new Map<number, number>();
    for (let i = s; i < e; i++) {
      const l = labels[order[i]!]!;
      counts.set(l, (counts.get(l) ?? 0) + 1);
    }
    return { fixed, groupLabels: [...counts], draws: k - s };
  }
  return { fixed, groupLabels: [], draws: 0 };
}

/**
 * The kNN vote in expectation: the straddling group contributes a uniformly random subset of its
 * members (multivariate hypergeometric), enumerated exactly; a vote tie among t labels gives each
 * 1/t. k is at most a few dozen, so the enumeration stays small.
 */
function expectedVote(
  top: TopK,
  trueLabel: number,
  numLabels: number,
): { credit: number; shares: Float64Array } {
  const shares = new Float64Array(numLabels);
  let credit = 0;
  const g = top.groupLabels.reduce((a, [, m]) => a + m, 0);
  const total = binomial(g, top.draws);
  const counts = top.fixed.slice();
  const visit = (index: number, left: number, weight: number) => {
    if (index === top.groupLabels.length) {
      if (left !== 0) return;
      const p = weight / total;
      let best = -1;
      for (const c of counts) best = Math.max(best, c);
      const winners = counts.flatMap((c, l) => (c === best ? [l] : []));
      for (const w of winners) shares[w]! += p / winners.length;
      if (winners.includes(trueLabel)) credit += p / winners.length;
      return;
    }
    const [label, m] = top.groupLabels[index]!;
    for (let x = 0; x <= Math.min(m, left); x++) {
      counts[label]! += x;
      visit(index + 1, left - x, weight * binomial(m, x));
      counts[label]! -= x;
    }
  };
  visit(0, top.draws, 1);
  return { credit, shares };
}

/** C(n, k) in floating point; k is small here (at most the largest k), so it stays exact enough. */
export function binomial(n: number, k: number): number {
  if (k < 0 || k > n) return 0;
  const kk = Math.min(k, n - k);
  let result = 1;
  for (let i = 1; i <= kk; i++) result = (result * (n - kk + i)) / i;
  return result;
}
