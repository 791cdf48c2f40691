import { describe, expect, it } from 'vitest';
import { createCollectionRequestSchema, errorResponseSchema, searchRequestSchema } from './api.ts';

describe('searchRequestSchema', () => {
  it('fills in k=10 and the largest face', () => {
    expect(searchRequestSchema.parse({})).toEqual({ k: 10, face: { mode: 'largest' } });
  });

  it('accepts filters and a face by index', () => {
    const parsed = searchRequestSchema.parse({
      k: 1000,
      filter: { collections: ['archive-1950s'], labels: ['happy'], minScore: 0.5 },
      face: { mode: 'index', index: 2 },
    });
    expect(parsed.face).toEqual({ mode: 'index', index: 2 });
  });

  it.each([
    { k: 0 },
    { k: 1001 },
    { k: 2.5 },
    { face: { mode: 'index' } },
    { face: { mode: 'biggest' } },
    { filter: { collections: [] } },
    { filter: { minScore: 2 } },
    { filter: { collections: ['Not OK'] } },
    { unknown: true },
  ])('refuses %o', (body) => {
    expect(searchRequestSchema.safeParse(body).success).toBe(false);
  });
});

describe('createCollectionRequestSchema', () => {
  it('takes a URL-safe name', () => {
    expect(createCollectionRequestSchema.safeParse({ name: 'family_photos-2024' }).success).toBe(true);
    for (const name of ['', '-x', 'A', 'a b', 'a'.repeat(64), 'ä']) {
      expect(createCollectionRequestSchema.safeParse({ name }).success).toBe(false);
    }
  });
});

describe('errorResponseSchema', () => {
  it('is {error: {code, message}}', () => {
    expect(errorResponseSchema.parse({ error: { code: 'not_found', message: 'x' } })).toEqual({
      error: { code: 'not_found', message: 'x' },
    });
  });
});
