import { describe, expect, it } from 'vitest';
import { parseFecCsv } from './parse.ts';

const face = (url: string, box = '0.1,0.9,0.2,0.8') => `${url},${box}`;
const annotations = '1,3,2,3,3,3,4,1,5,3,6,3';
const good = `${face('http://a/1.jpg')},${face('http://a/2.jpg')},${face('http://a/3.jpg')},ONE_CLASS_TRIPLET,${annotations}`;

function only(row: string) {
  const parsed = parseFecCsv(`${row}\n`);
  expect(parsed.rows).toBe(1);
  return parsed;
}

describe('parseFecCsv', () => {
  it('reads a well-formed row', () => {
    const { triplets, malformed } = only(good);
    expect(malformed).toEqual([]);
    expect(triplets).toEqual([
      {
        line: 1,
        faces: [
          { url: 'http://a/1.jpg', box: { left: 0.1, right: 0.9, top: 0.2, bottom: 0.8 } },
          { url: 'http://a/2.jpg', box: { left: 0.1, right: 0.9, top: 0.2, bottom: 0.8 } },
          { url: 'http://a/3.jpg', box: { left: 0.1, right: 0.9, top: 0.2, bottom: 0.8 } },
        ],
        type: 'ONE_CLASS_TRIPLET',
        annotations: [
          { annotator: '1', answer: 3 },
          { annotator: '2', answer: 3 },
          { annotator: '3', answer: 3 },
          { annotator: '4', answer: 1 },
          { annotator: '5', answer: 3 },
          { annotator: '6', answer: 3 },
        ],
      },
    ]);
  });

  it('reads quoted URLs, commas inside them included', () => {
    const row = `"http://a/x,1.jpg",0,1,0,1,"http://a/""q"".jpg",0,1,0,1,"http://a/3.jpg",0,1,0,1,TWO_CLASS_TRIPLET,a,2`;
    const { triplets } = only(row);
    expect(triplets[0]!.faces.map((f) => f.url)).toEqual([
      'http://a/x,1.jpg',
      'http://a/"q".jpg',
      'http://a/3.jpg',
    ]);
    expect(triplets[0]!.annotations).toEqual([{ annotator: 'a', answer: 2 }]);
  });

  it('rejects a short row', () => {
    const { malformed } = only(`${face('u1')},${face('u2')},${face('u3')},ONE_CLASS_TRIPLET`);
    expect(malformed).toEqual([
      {
        line: 1,
        code: 'TOO_FEW_COLUMNS',
        message:
          'line 1: 16 columns; a triplet needs 15 face columns, the type and at least one annotator/answer pair (18)',
      },
    ]);
  });

  it('rejects an extra column that is not part of a pair', () => {
    const { malformed } = only(`${good},7`);
    expect(malformed[0]!.code).toBe('UNPAIRED_COLUMN');
    expect(malformed[0]!.message).toMatch(
      /^line 1: 29 columns: column 29 is not part of an annotator\/answer pair/,
    );
  });

  it('rejects an unknown triplet type, naming the column and the value', () => {
    const { malformed } = only(good.replace('ONE_CLASS_TRIPLET', 'FOUR_CLASS_TRIPLET'));
    expect(malformed[0]).toMatchObject({ code: 'BAD_TYPE' });
    expect(malformed[0]!.message).toBe(
      'line 1: column 16 (triplet type) is "FOUR_CLASS_TRIPLET", not one of ONE_CLASS_TRIPLET, TWO_CLASS_TRIPLET, THREE_CLASS_TRIPLET',
    );
  });

  it.each([
    ['4', 'column 22 (answer of annotator 3) is "4", not 1, 2 or 3'],
    ['', 'column 22 (answer of annotator 3) is "", not 1, 2 or 3'],
    ['1.0', 'column 22 (answer of annotator 3) is "1.0", not 1, 2 or 3'],
  ])('rejects the answer %j', (answer, message) => {
    const { malformed } = only(good.replace('3,3,4,1', `3,${answer},4,1`));
    expect(malformed[0]).toEqual({ line: 1, code: 'BAD_ANSWER', message: `line 1: ${message}` });
  });

  it('rejects an empty annotator id', () => {
    const { malformed } = only(good.replace(',5,3,', ',,3,'));
    expect(malformed[0]).toMatchObject({
      code: 'BAD_ANNOTATOR',
      message: 'line 1: column 25 (annotator id) is empty',
    });
  });

  it('rejects an empty URL', () => {
    const { malformed } = only(good.replace('http://a/2.jpg', ''));
    expect(malformed[0]).toMatchObject({
      code: 'BAD_URL',
      message: 'line 1: column 6 (face 2 url) is empty',
    });
  });

  it.each([
    ['1.5,0.9,0.2,0.8', 'column 2 (face 1 top_left_col) is "1.5", not a fraction in [0, 1]'],
    ['-0.1,0.9,0.2,0.8', 'column 2 (face 1 top_left_col) is "-0.1", not a fraction in [0, 1]'],
    ['0.1,,0.2,0.8', 'column 3 (face 1 bottom_right_col) is "", not a fraction in [0, 1]'],
    ['0.1,0.9,abc,0.8', 'column 4 (face 1 top_left_row) is "abc", not a fraction in [0, 1]'],
    ['0.1,0.9,0.2,0x1', 'column 5 (face 1 bottom_right_row) is "0x1", not a fraction in [0, 1]'],
    ['0.1,0.9,0.2,NaN', 'column 5 (face 1 bottom_right_row) is "NaN", not a fraction in [0, 1]'],
    ['0.9,0.1,0.2,0.8', 'face 1: top_left_col 0.9 is not left of bottom_right_col 0.1'],
    ['0.1,0.9,0.5,0.5', 'face 1: top_left_row 0.5 is not above bottom_right_row 0.5'],
  ])('rejects the box %s', (box, message) => {
    const row = `${face('http://a/1.jpg', box)},${face('u2')},${face('u3')},ONE_CLASS_TRIPLET,${annotations}`;
    const { malformed } = only(row);
    expect(malformed[0]).toEqual({ line: 1, code: 'BAD_BOX', message: `line 1: ${message}` });
  });

  it('accepts exponent notation and whole-image boxes', () => {
    const row = `${face('u1', '0,1,0,1')},${face('u2', '1e-1,9E-1,0.,1.0')},${face('u3')},THREE_CLASS_TRIPLET,a,1`;
    const { triplets } = only(row);
    expect(triplets[0]!.faces[1]!.box).toEqual({ left: 0.1, right: 0.9, top: 0, bottom: 1 });
  });

  it('counts every bad row with its line and goes on', () => {
    const text = [
      good,
      'short,row',
      good.replace('ONE_CLASS', 'TWO_CLASS'),
      '',
      '"unclosed,1',
      good,
      '',
    ].join('\n');
    const parsed = parseFecCsv(text);
    expect(parsed.rows).toBe(5);
    expect(parsed.blankLines).toBe(1);
    expect(parsed.triplets.map((t) => t.line)).toEqual([1, 3, 6]);
    expect(parsed.malformed.map((m) => [m.line, m.code])).toEqual([
      [2, 'TOO_FEW_COLUMNS'],
      [5, 'CSV_SYNTAX'],
    ]);
  });
});
