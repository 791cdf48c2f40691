/**
 * How identity serves expression search on a labelled set with known people: how much of a
 * query's top 10 (by expression) is the query's own person, with and without person=other, what
 * precision@10 is when only other people's faces count, and how well the faces cluster into
 * people (pairwise precision and recall, clusters against people).
 */
import { resolve } from 'node:path';
import type { EncoderOptions } from '@fever/encoder';
import { InputError } from '@fever/errors';
import {
  clusterDescriptors,
  DEFAULT_LINK_DISTANCE,
  DEFAULT_NEIGHBOURS,
  type PairwiseAgreement,
  pairwiseAgreement,
  SAME_PERSON_DISTANCE,
} from '@fever/people';
import { readLabels } from '../labels.ts';
import type { FaceMode } from '../retrieval/result.ts';
import { describeFaces, personFromName } from './describe.ts';

export const PEOPLE_TOP_K = 10;

export interface PeopleEvalOptions {
  labels: string;
  root?: string;
  faces?: FaceMode;
  /** The column naming each image's person; absent: the person comes from the file name. */
  personColumn?: string;
  model?: string;
  /** Link distances to report the clustering at (the default one always). */
  thresholds?: number[];
  encoder?: Omit<EncoderOptions, 'expressionModel' | 'identityModel'>;
  onProgress?: (done: number, total: number) => void;
}

/** One way of searching: the share of the top 10 that is the query's own person, and P@10. */
export interface SearchModeFigures {
  /** Mean share of the top 10 that is the query's true person. */
  ownPersonShare: number;
  /** Mean share of the top 10 with the query's label and another true person. */
  precisionOthers: number;
  /** Mean share of the top 10 with the query's label, whoever it is (the usual P@10). */
  precision: number;
}

export interface PeopleEvalResult {
  kind: 'people';
  params: {
    labels: string;
    faces: FaceMode;
    person: string;
    model: string | null;
    identityModel: string;
    linkDistance: number;
    neighbours: number;
    sameDistance: number;
    k: number;
  };
  images: { total: number; used: number; unreadable: number; noFace: number };
  people: { true: number; withTwoOrMore: number };
  /** Share of the top 10 that would be the query's person if results were drawn at random. */
  chanceOwnShare: number;
  search: {
    plain: SearchModeFigures;
    /** person=other by the query's cluster (an indexed face). */
    otherByCluster: SearchModeFigures;
    /** person=other by identity distance to the query (an upload). */
    otherByDistance: SearchModeFigures;
  };
  clustering: ({ threshold: number } & PairwiseAgreement)[];
  ms: number;
}

export async function runPeopleEval(options: PeopleEvalOptions): Promise<PeopleEvalResult> {
  const t0 = performance.now();
  const labelsFile = resolve(options.labels);
  const items = await readLabels(labelsFile, {
    ...(options.root ? { root: options.root } : {}),
    ...(options.personColumn ? { groupBy: options.personColumn } : {}),
  });
  const person = items.map((i) => (options.personColumn ? i.group! : personFromName(i.path)));
  const faces = options.faces ?? 'crop';
  const described = await describeFaces(items, {
    faces,
    ...(options.model ? { expressionModel: options.model } : {}),
    ...(options.encoder ? { encoder: options.encoder } : {}),
    onProgress: (done) => options.onProgress?.(done, items.length),
  });
  const used = described.faces;
  if (used.length < PEOPLE_TOP_K + 1) {
    throw new InputError(
      'TOO_FEW_FACES',
      `only ${used.length} faces were found; at least ${PEOPLE_TOP_K + 1} are needed`,
    );
  }
  const truth = used.map((f) => person[f.index]!);
  const label = used.map((f) => items[f.index]!.label);
  const { labels: cluster } = clusterDescriptors(used.map((f) => f.identity));

  const n = used.length;
  const dot = (a: Float32Array, b: Float32Array) => {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
    return s;
  };
  const sums = { plain: [0, 0, 0], otherByCluster: [0, 0, 0], otherByDistance: [0, 0, 0] };
  let chance = 0;
  const personSize = new Map<string, number>();
  for (const t of truth) personSize.set(t, (personSize.get(t) ?? 0) + 1);
  for (let q = 0; q < n; q++) {
    chance += (personSize.get(truth[q]!)! - 1) / (n - 1);
    const order = [...Array(n).keys()]
      .filter((j) => j !== q)
      .map((j) => ({ j, s: dot(used[q]!.embedding, used[j]!.embedding) }))
      .sort((a, b) => b.s - a.s || a.j - b.j)
      .map((x) => x.j);
    const modes = {
      plain: order,
      otherByCluster: order.filter((j) => cluster[j] !== cluster[q]),
      otherByDistance: order.filter(
        (j) => 1 - dot(used[q]!.identity, used[j]!.identity) >= SAME_PERSON_DISTANCE,
      ),
    };
    for (const [mode, list] of Object.entries(modes) as [keyof typeof sums, number[]][]) {
      const top = list.slice(0, PEOPLE_TOP_K);
      const own = top.filter((j) => truth[j] === truth[q]).length;
      const others = top.filter((j) => truth[j] !== truth[q] && label[j] === label[q]).length;
      const same = top.filter((j) => label[j] === label[q]).length;
      sums[mode][0]! += own / PEOPLE_TOP_K;
      sums[mode][1]! += others / PEOPLE_TOP_K;
      sums[mode][2]! += same / PEOPLE_TOP_K;
    }
  }
  const figures = (s: number[]): SearchModeFigures => ({
    ownPersonShare: s[0]! / n,
    precisionOthers: s[1]! / n,
    precision: s[2]! / n,
  });
  const thresholds = [...new Set([...(options.thresholds ?? []), DEFAULT_LINK_DISTANCE])].sort(
    (a, b) => a - b,
  );
  const clustering = thresholds.map((threshold) => ({
    threshold,
    ...pairwiseAgreement(
      threshold === DEFAULT_LINK_DISTANCE
        ? cluster
        : clusterDescriptors(
            used.map((f) => f.identity),
            { threshold },
          ).labels,
      truth,
    ),
  }));
  return {
    kind: 'people',
    params: {
      labels: labelsFile,
      faces,
      person: options.personColumn ? `column ${options.personColumn}` : 'file name',
      model: options.model ?? null,
      identityModel: described.identityModel,
      linkDistance: DEFAULT_LINK_DISTANCE,
      neighbours: DEFAULT_NEIGHBOURS,
      sameDistance: SAME_PERSON_DISTANCE,
      k: PEOPLE_TOP_K,
    },
    images: { total: items.length, used: n, unreadable: described.unreadable, noFace: described.noFace },
    people: { true: personSize.size, withTwoOrMore: [...personSize.values()].filter((c) => c > 1).length },
    chanceOwnShare: chance / n,
    search: {
      plain: figures(sums.plain),
      otherByCluster: figures(sums.otherByCluster),
      otherByDistance: figures(sums.otherByDistance),
    },
    clustering,
    ms: Math.round(performance.now() - t0),
  };
}
