import { InputError } from '@fever/errors';
import { describe, expect, it } from 'vitest';
import { FACE_POINT_NAMESPACE, facePointId } from './point-id.ts';
import { uuidV5 } from './uuid-v5.ts';

const key = {
  collectionId: 7,
  imageSha256: 'ab'.repeat(32),
  faceIndex: 2,
  modelId: 'face-api-expression',
  modelVersion: '1.7.15',
};

describe('facePointId', () => {
  it('is fever’s namespace derived from the URL namespace', () => {
    expect(uuidV5('https://fever.dev/ns/face-point', '6ba7b811-9dad-11d1-80b4-00c04fd430c8')).toBe(
      FACE_POINT_NAMESPACE,
    );
  });

  it('is stable: the same face always gets the same id (value fixed by Python uuid.uuid5)', () => {
    expect(facePointId(key)).toBe('8bb90b65-a55f-5268-9236-6226ca4d18fb');
    expect(facePointId({ ...key })).toBe(facePointId(key));
  });

  it('differs when any part of the key differs', () => {
    const ids = new Set([
      facePointId(key),
      facePointId({ ...key, collectionId: 8 }),
      facePointId({ ...key, imageSha256: 'cd'.repeat(32) }),
      facePointId({ ...key, faceIndex: 3 }),
      facePointId({ ...key, modelId: 'other' }),
      facePointId({ ...key, modelVersion: '1.7.16' }),
    ]);
    expect(ids.size).toBe(6);
  });

  it.each([
    { collectionId: 0 },
    { imageSha256: 'AB'.repeat(32) },
    { imageSha256: 'ab' },
    { faceIndex: -1 },
    { faceIndex: 1.5 },
    { modelVersion: '' },
  ])('refuses a bad key %o', (bad) => {
    expect(() => facePointId({ ...key, ...bad })).toThrow(InputError);
  });
});
