import { type CsvRecord, csvRecords, isBlank } from '../csv/tokenize.ts';
import {
  type Annotation,
  type Answer,
  type FaceRef,
  type FecTriplet,
  type MalformedCode,
  type MalformedRow,
  TRIPLET_TYPES,
  type TripletType,
} from './types.ts';

/**
 * The public Google FEC CSV: no header; columns 1–15 are three faces, each `url, top_left_col,
 * bottom_right_col, top_left_row, bottom_right_row` (fractions of the width and height); column 16
 * the triplet type; then `annotator_id, answer` pairs (six in the public files), the answer naming
 * the face most different from the other two. Column numbers in messages count from 1.
 */
export interface ParsedFec {
  triplets: FecTriplet[];
  malformed: MalformedRow[];
  /** Records read, blank lines excluded. */
  rows: number;
  /** Empty lines, skipped (they hold no row). */
  blankLines: number;
}

const FACE_COLUMNS = ['url', 'top_left_col', 'bottom_right_col', 'top_left_row', 'bottom_right_row'];
const TYPE_COLUMN = 15;
const FIRST_ANNOTATION_COLUMN = 16;
// A plain decimal: Number() alone would accept '', ' ', '0x1' and 'Infinity'.
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export function parseFecCsv(text: string): ParsedFec {
  const result: ParsedFec = { triplets: [], malformed: [], rows: 0, blankLines: 0 };
  for (const record of csvRecords(text)) {
    if (isBlank(record)) {
      result.blankLines++;
      continue;
    }
    result.rows++;
    const parsed = parseFecRecord(record);
    if ('code' in parsed) result.malformed.push(parsed);
    else result.triplets.push(parsed);
  }
  return result;
}

/** One CSV record → a triplet, or the first thing wrong with it. */
export function parseFecRecord(record: CsvRecord): FecTriplet | MalformedRow {
  const { line, fields } = record;
  const bad = (code: MalformedCode, message: string): MalformedRow => ({
    line,
    code,
    message: `line ${line}: ${message}`,
  });
  if (record.error) return bad('CSV_SYNTAX', record.error);
  if (fields.length < FIRST_ANNOTATION_COLUMN + 2) {
    return bad(
      'TOO_FEW_COLUMNS',
      `${fields.length} columns; a triplet needs 15 face columns, the type and at least one annotator/answer pair (18)`,
    );
  }
  if ((fields.length - FIRST_ANNOTATION_COLUMN) % 2 !== 0) {
    return bad(
      'UNPAIRED_COLUMN',
      `${fields.length} columns: column ${fields.length} is not part of an annotator/answer pair ` +
        `(after the 16 triplet columns the count must be even)`,
    );
  }
  const faces: FaceRef[] = [];
  for (let f = 0; f < 3; f++) {
    const base = f * 5;
    const column = (k: number) => `column ${base + k + 1} (face ${f + 1} ${FACE_COLUMNS[k]})`;
    const url = fields[base]!.trim();
    if (url === '') return bad('BAD_URL', `${column(0)} is empty`);
    const values: number[] = [];
    for (let k = 1; k <= 4; k++) {
      const raw = fields[base + k]!.trim();
      const value = DECIMAL.test(raw) ? Number(raw) : Number.NaN;
      if (!(value >= 0 && value <= 1)) {
        return bad('BAD_BOX', `${column(k)} is ${JSON.stringify(raw)}, not a fraction in [0, 1]`);
      }
      values.push(value);
    }
    const [left, right, top, bottom] = values as [number, number, number, number];
    if (!(left < right)) {
      return bad('BAD_BOX', `face ${f + 1}: top_left_col ${left} is not left of bottom_right_col ${right}`);
    }
    if (!(top < bottom)) {
      return bad('BAD_BOX', `face ${f + 1}: top_left_row ${top} is not above bottom_right_row ${bottom}`);
    }
    faces.push({ url, box: { left, right, top, bottom } });
  }
  const type = fields[TYPE_COLUMN]!.trim();
  if (!(TRIPLET_TYPES as readonly string[]).includes(type)) {
    return bad(
      'BAD_TYPE',
      `column 16 (triplet type) is ${JSON.stringify(type)}, not one of ${TRIPLET_TYPES.join(', ')}`,
    );
  }
  const annotations: Annotation[] = [];
  for (let c = FIRST_ANNOTATION_COLUMN; c < fields.length; c += 2) {
    const annotator = fields[c]!.trim();
    const answer = fields[c + 1]!.trim();
    if (annotator === '') return bad('BAD_ANNOTATOR', `column ${c + 1} (annotator id) is empty`);
    if (answer !== '1' && answer !== '2' && answer !== '3') {
      return bad(
        'BAD_ANSWER',
        `column ${c + 2} (answer of annotator ${annotator}) is ${JSON.stringify(answer)}, not 1, 2 or 3`,
      );
    }
    annotations.push({ annotator, answer: Number(answer) as Answer });
  }
  return { line, faces: faces as FecTriplet['faces'], type: type as TripletType, annotations };
}
