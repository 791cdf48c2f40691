import { describe, expect, it } from 'vitest';
import { numberFlag, wholeNumberFlag } from './number-flags.ts';

describe('number flags', () => {
  it('returns the number when the rule holds', () => {
    expect(numberFlag('lr', '0.001', (n) => n > 0, 'must be > 0')).toBe(0.001);
    expect(wholeNumberFlag('k', '10', 1, 1000)).toBe(10);
    expect(wholeNumberFlag('seed', '0', 0)).toBe(0);
  });

  it.each([
    ['', 'must be a whole number ≥ 1'],
    [' ', 'must be a whole number ≥ 1'],
    ['abc', 'must be a whole number ≥ 1'],
    ['1.5', 'must be a whole number ≥ 1'],
    ['0', 'must be a whole number ≥ 1'],
    ['Infinity', 'must be a whole number ≥ 1'],
  ])("refuses '%s', naming the flag, the rule and the value", (value, rule) => {
    expect(() => wholeNumberFlag('epochs', value, 1)).toThrow(
      expect.objectContaining({ code: 'BAD_FLAG', message: `--epochs ${rule}, got '${value}'` }),
    );
  });

  it('refuses an empty value even where 0 is allowed (Number("") is 0)', () => {
    expect(() => wholeNumberFlag('seed', '', 0)).toThrow("--seed must be a whole number ≥ 0, got ''");
  });

  it('states the range when there is a maximum', () => {
    expect(() => wholeNumberFlag('k', '1001', 1, 1000)).toThrow(
      "--k must be a whole number from 1 to 1000, got '1001'",
    );
  });
});
