import { InputError } from '@fever/errors';

/** A number flag that passes `ok`; otherwise a BAD_FLAG error naming the flag, the rule and the value. */
export function numberFlag(name: string, value: string, ok: (n: number) => boolean, rule: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || !ok(n)) {
    throw new InputError('BAD_FLAG', `--${name} ${rule}, got '${value}'`);
  }
  return n;
}

/** A whole-number flag ≥ min, and ≤ max when one is given. */
export function wholeNumberFlag(name: string, value: string, min: number, max?: number): number {
  const rule =
    max === undefined ? `must be a whole number ≥ ${min}` : `must be a whole number from ${min} to ${max}`;
  return numberFlag(
    name,
    value,
    (n) => Number.isInteger(n) && n >= min && (max === undefined || n <= max),
    rule,
  );
}
