export const TRIPLET_TYPES = ['ONE_CLASS_TRIPLET', 'TWO_CLASS_TRIPLET', 'THREE_CLASS_TRIPLET'] as const;
export type TripletType = (typeof TRIPLET_TYPES)[number];

/** Which face of a triplet (1, 2 or 3): the FEC answer names the face most different from the other two. */
export type Answer = 1 | 2 | 3;

/** A face box as fractions of the image width (left, right) and height (top, bottom), as FEC gives it. */
export interface FractionBox {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

export interface FaceRef {
  url: string;
  box: FractionBox;
}

export interface Annotation {
  annotator: string;
  answer: Answer;
}

export interface FecTriplet {
  /** Line of the CSV the triplet comes from (1-based). */
  line: number;
  faces: [FaceRef, FaceRef, FaceRef];
  type: TripletType;
  annotations: Annotation[];
}

/** Why a CSV row could not be read as a triplet. Stable: reports and tests match on them. */
export type MalformedCode =
  | 'CSV_SYNTAX'
  | 'TOO_FEW_COLUMNS'
  | 'UNPAIRED_COLUMN'
  | 'BAD_URL'
  | 'BAD_BOX'
  | 'BAD_TYPE'
  | 'BAD_ANNOTATOR'
  | 'BAD_ANSWER';

export interface MalformedRow {
  line: number;
  code: MalformedCode;
  message: string;
}

/** The whole image as a box: what generated triplets and whole-image crops use. */
export const WHOLE_IMAGE: FractionBox = { left: 0, right: 1, top: 0, bottom: 1 };
