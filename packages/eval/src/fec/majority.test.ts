import { describe, expect, it } from 'vitest';
import { humanAgreement, majorityAnswer, unanimous } from './majority.ts';
import type { Answer } from './types.ts';

const a = (...answers: number[]) => answers as Answer[];

describe('majorityAnswer', () => {
  it.each([
    [a(3, 3, 3, 3, 3, 3), 3],
    [a(1, 1, 1, 1, 2, 3), 1],
    [a(2, 2, 2, 2, 1, 1), 2],
    [a(1, 1, 1, 2, 2, 2), null], // 3–3: half is not a majority
    [a(1, 1, 1, 2, 2, 3), null], // 3–2–1: a plurality, not a majority
    [a(2, 2, 1), 2],
    [a(2), 2],
    [a(), null],
  ])('%j → %j', (answers, expected) => {
    expect(majorityAnswer(answers)).toBe(expected);
  });
});

describe('unanimous', () => {
  it('is true only when every annotator gave the same answer', () => {
    expect(unanimous(a(2, 2, 2, 2, 2, 2))).toBe(true);
    expect(unanimous(a(2, 2, 2, 2, 2, 1))).toBe(false);
    expect(unanimous(a())).toBe(false);
  });
});

describe('humanAgreement', () => {
  it('is 1 when all agree', () => {
    expect(humanAgreement(a(1, 1, 1, 1, 1, 1))).toBe(1);
  });

  it('judges each annotator against the majority of the other five', () => {
    // The four 1s each face others 1,1,1,2,3 (majority 1): agree. The 2 faces 1,1,1,1,3: disagrees.
    // The 3 likewise. 4 of 6.
    expect(humanAgreement(a(1, 1, 1, 1, 2, 3))).toBeCloseTo(4 / 6, 15);
  });

  it('leaves out annotators whose others have no majority', () => {
    // Each 1 faces 1,1,2,2,2 → 2 (disagree); each 2 faces 1,1,1,2,2 → 1 (disagree).
    expect(humanAgreement(a(1, 1, 1, 2, 2, 2))).toBe(0);
    // Others of the 3 are 1,1,2,2 (no majority): left out. Each 1 faces 1,2,2,3 (none); each 2 likewise.
    expect(humanAgreement(a(1, 1, 2, 2, 3))).toBeNull();
  });

  it('is null with one annotator', () => {
    expect(humanAgreement(a(2))).toBeNull();
  });
});
