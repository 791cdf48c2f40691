/**
 * Label precision@k of leave-one-out nearest neighbours by cosine similarity (rows are unit
 * vectors). The trainer's quick progress figure; reported figures come from `fever eval`, which
 * also handles exact ties.
 */
export function precisionAtK(embeddings: Float32Array, labels: Int32Array, dims: number, k = 10): number {
  const n = labels.length;
  const sims = new Float32Array(n);
  const top = new Int32Array(k);
  let total = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let dot = 0;
      for (let d = 0; d < dims; d++) dot += embeddings[i * dims + d]! * embeddings[j * dims + d]!;
      sims[j] = dot;
    }
    sims[i] = -Infinity;
    // Partial selection of the k largest: k is small.
    let filled = 0;
    for (let j = 0; j < n; j++) {
      if (filled < k) {
        top[filled++] = j;
        continue;
      }
      let worst = 0;
      for (let t = 1; t < k; t++) if (sims[top[t]!]! < sims[top[worst]!]!) worst = t;
      if (sims[j]! > sims[top[worst]!]!) top[worst] = j;
    }
    let hits = 0;
    for (let t = 0; t < filled; t++) if (labels[top[t]!] === labels[i]) hits++;
    total += hits / filled;
  }
  return total / n;
}
