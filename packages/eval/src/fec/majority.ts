import type { Answer } from './types.ts';

/**
 * The answer given by more than half of the annotators, or null when none is (3–3 or 3–2–1 among
 * six). A strict majority, not a plurality: a 3–2–1 split is not a human judgement to score against.
 */
export function majorityAnswer(answers: readonly Answer[]): Answer | null {
  const counts = [0, 0, 0, 0];
  for (const a of answers) counts[a]!++;
  for (const a of [1, 2, 3] as const) if (counts[a]! * 2 > answers.length) return a;
  return null;
}

/** True when every annotator gave the same answer (the "strict" subset). */
export function unanimous(answers: readonly Answer[]): boolean {
  return answers.length > 0 && answers.every((a) => a === answers[0]);
}

/**
 * How often one annotator agrees with the majority of the others, averaged over the annotators
 * of a triplet whose others have a majority: the human ceiling for this triplet. Null when no
 * annotator can be judged (fewer than two annotators, or the others never have a majority).
 */
export function humanAgreement(answers: readonly Answer[]): number | null {
  let judged = 0;
  let agreed = 0;
  for (let i = 0; i < answers.length; i++) {
    const others = answers.filter((_, j) => j !== i);
    if (others.length === 0) continue;
    const majority = majorityAnswer(others);
    if (majority === null) continue;
    judged++;
    if (answers[i] === majority) agreed++;
  }
  return judged === 0 ? null : agreed / judged;
}
