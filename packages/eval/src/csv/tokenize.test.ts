import { describe, expect, it } from 'vitest';
import { csvRecords, isBlank } from './tokenize.ts';
import { csvLine } from './write.ts';

const records = (text: string) => [...csvRecords(text)];

describe('csvRecords', () => {
  it('splits plain fields and keeps line numbers', () => {
    expect(records('a,b,c\nd,e,f\n')).toEqual([
      { line: 1, fields: ['a', 'b', 'c'] },
      { line: 2, fields: ['d', 'e', 'f'] },
    ]);
  });

  it('reads quoted fields with commas, doubled quotes and line breaks', () => {
    const out = records('"http://x/a,b.jpg","say ""hi""","two\nlines",z\nnext\n');
    expect(out[0]).toEqual({ line: 1, fields: ['http://x/a,b.jpg', 'say "hi"', 'two\nlines', 'z'] });
    expect(out[1]).toEqual({ line: 3, fields: ['next'] });
  });

  it('accepts CRLF, a BOM, empty fields and a last line without a newline', () => {
    expect(records('\ufeffa,,b\r\n,c')).toEqual([
      { line: 1, fields: ['a', '', 'b'] },
      { line: 2, fields: ['', 'c'] },
    ]);
  });

  it('yields blank lines so that callers can count them', () => {
    const out = records('a\n\nb\n');
    expect(out.map(isBlank)).toEqual([false, true, false]);
    expect(out[2]!.line).toBe(3);
  });

  it('reports an unclosed quote on its own line and goes on with the next line', () => {
    const out = records('ok,1\n"broken,2\nok,3\n');
    expect(out).toEqual([
      { line: 1, fields: ['ok', '1'] },
      { line: 2, fields: [], error: 'quoted field 1 opened on line 2 is never closed' },
      { line: 3, fields: ['ok', '3'] },
    ]);
  });

  it('reports text after a closing quote and a quote inside an unquoted field', () => {
    const out = records('"a"b,c\nx,y"z\nfine\n');
    expect(out[0]!.error).toMatch(/field 1: unexpected "b" after a closing quote/);
    expect(out[1]!.error).toMatch(/field 2: a quote inside an unquoted field/);
    expect(out[2]).toEqual({ line: 3, fields: ['fine'] });
  });
});

describe('csvLine', () => {
  it('quotes only the fields that need it, and round-trips', () => {
    const fields = ['plain', 'with,comma', 'with "quote"', ' padded', 7];
    const line = csvLine(fields);
    expect(line).toBe('plain,"with,comma","with ""quote"""," padded",7');
    expect(records(line)[0]!.fields).toEqual(fields.map(String));
  });
});
