import { describe, expect, it } from 'vitest';
import { DNS_NAMESPACE, isUuid, uuidV5 } from './uuid-v5.ts';

const URL_NAMESPACE = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';

describe('uuidV5', () => {
  // Reference values from Python's uuid.uuid5 (and the widely quoted www.example.com vector).
  it.each([
    ['www.example.com', DNS_NAMESPACE, '2ed6657d-e927-568b-95e1-2665a8aea6a2'],
    ['http://www.python.org/', URL_NAMESPACE, 'c2a8cbf8-d0f1-5ef4-9740-c3faec8ab1a0'],
    ['héllo.example', DNS_NAMESPACE, '6f198ba9-c4dd-5b07-9d3f-b2d2a54638dc'],
  ])('uuidV5(%s) matches the reference', (name, namespace, expected) => {
    expect(uuidV5(name, namespace)).toBe(expected);
  });

  it('accepts an upper-case namespace and refuses a malformed one', () => {
    expect(uuidV5('www.example.com', DNS_NAMESPACE.toUpperCase())).toBe(
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    );
    expect(() => uuidV5('x', 'not-a-uuid')).toThrow(/namespace is not a UUID/);
  });

  it('recognises UUIDs', () => {
    expect(isUuid('2ed6657d-e927-568b-95e1-2665a8aea6a2')).toBe(true);
    expect(isUuid('2ed6657d-e927-568b-95e1-2665a8aea6a')).toBe(false);
  });
});
