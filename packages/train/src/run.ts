import { join, relative, resolve } from 'node:path';
import {
  composeBaseHead,
  composeHeadModel,
  DENSE_BLOCKS,
  type EncoderOptions,
  type ExpressionHead,
  expressionBlockTensors,
  type HeadFile,
  loadExpressionModel,
  writeHeadFiles,
} from '@fever/encoder';
import { InputError } from '@fever/errors';
import type { hashImages, LabelledImage } from '@fever/eval';
import { TrainableDenseBlock } from './dense-block.ts';
import { DepthwisePool } from './depthwise-pool.ts';
import { type FeatureSet, modelFeatures, trunkFeatures } from './features.ts';
import { Gemm } from './gemm.ts';
import { precisionAtK } from './monitor.ts';
import { writeSplit } from './split-files.ts';
import { type EpochReport, type TrainOptions, trainHead } from './train.ts';
import { trunkMaps } from './trunk-maps.ts';
import { TunedModel, trainTuned } from './tuned-model.ts';

export interface HeadTrainingOptions extends TrainOptions {
  /** CSV `path,label` with a header (FER2013-style crops: the whole image is the face). */
  labels: string;
  root?: string;
  /** Output folder: head.json + head.bin, model/ (composed ONNX + manifest), split/. */
  out: string;
  /** Model id of the composed model. */
  id: string;
  /**
   * Manifest of any expression model (a composite too) whose embedding the head learns from,
   * frozen, instead of the face-api trunk's features; `input` is then `model`.
   */
  base?: string;
  /** Share of each label held out as the validation split (never trained on). */
  validation: number;
  /** Share of the training part held out to pick the best epoch (not the validation split). */
  monitor: number;
  cacheDir: string | null;
  encoder?: Omit<EncoderOptions, 'expressionModel'>;
  onProgress?: (line: string) => void;
}

export interface HeadTrainingResult {
  head: HeadFile;
  manifestPath: string;
  /** The composed model, id@version. */
  model: string;
  splitFiles: { train: string; validation: string };
  counts: { train: number; monitor: number; validation: number; unreadable: number };
  bestEpoch: number;
  history: EpochReport[];
  /** Quick leave-one-out precision@10 on the validation split: trunk feature vs learned head. */
  validationPrecisionAt10: { trunk: number; head: number };
  /** Wall seconds: hashing and splitting, feature or map extraction, training (all epochs). */
  seconds: { hashing: number; features: number; training: number };
}

/**
 * `fever train head`: split, extract trunk features (or, with `fineTune`, the maps in front of the
 * fine-tuned block), train, then write the head and the composed model. The validation split is
 * written out so `fever eval` can score exactly the held-out faces.
 */
export async function runHeadTraining(options: HeadTrainingOptions): Promise<HeadTrainingResult> {
  const say = options.onProgress ?? (() => {});
  if (options.fineTune && options.input !== 'grid') {
    throw new InputError(
      'BAD_FLAG',
      `--fine-tune trains the grid input; --input ${options.input} is not supported with it`,
    );
  }
  if ((options.input === 'model') !== (options.base !== undefined)) {
    throw new InputError('BAD_FLAG', 'a head reads a base model (--base) exactly when its input is model');
  }
  let last = 0;
  const throttled = (phase: string, done: number, total: number) => {
    if (done === total || Date.now() - last > 2000) {
      last = Date.now();
      say(`${phase} ${done}/${total}`);
    }
  };
  const split = await writeSplit({
    labels: options.labels,
    root: options.root,
    validation: options.validation,
    monitor: options.monitor,
    seed: options.seed,
    dir: join(resolve(options.out), 'split'),
    onProgress: say,
  });
  const { labelNames, hashes, fit, monitor, validation, hashSeconds } = split;
  const splitFiles = { train: split.files.train, validation: split.files.validation };
  const out = resolve(options.out);

  const labelsOf = (set: readonly LabelledImage[]) =>
    Int32Array.from(set.map((i) => labelNames.indexOf(i.label)));
  const gemm = await Gemm.create(options.encoder?.threads ?? 0);
  try {
    const trained = options.fineTune
      ? await fineTuned(
          options,
          gemm,
          { fit, monitor, validation },
          hashes,
          labelNames.length,
          labelsOf,
          throttled,
          say,
        )
      : await frozen(
          options,
          gemm,
          { fit, monitor, validation },
          hashes,
          labelNames.length,
          labelsOf,
          throttled,
          say,
        );
    const { validationPrecisionAt10, counts } = trained;
    say(
      `validation P@10: head ${validationPrecisionAt10.head.toFixed(4)}, ${options.base ? 'base model' : `trunk ${options.input}`} features ${validationPrecisionAt10.trunk.toFixed(4)} (best epoch ${trained.bestEpoch})`,
    );

    const {
      labels: _labels,
      root: _root,
      out: _out,
      cacheDir: _cache,
      encoder: _enc,
      onProgress: _p,
      ...settings
    } = options;
    const expressionHead = trained.expressionHead;
    const base = options.base ? await loadExpressionModel(options.base) : null;
    const head = await writeHeadFiles(
      out,
      options.id,
      expressionHead,
      {
        settings,
        data: {
          labels: relative(process.cwd(), resolve(options.labels)),
          labelNames,
          ...counts,
        },
        bestEpoch: trained.bestEpoch,
        validationPrecisionAt10,
        seconds: { features: round(trained.seconds.features), training: round(trained.seconds.training) },
        history: trained.history.map((h) => ({
          epoch: h.epoch,
          loss: round(h.loss),
          monitorPrecisionAt10: round(h.monitorPrecision),
          seconds: round(h.ms / 1000),
        })),
      },
      base
        ? { manifestPath: base.manifestPath, id: base.manifest.id, version: base.manifest.version }
        : undefined,
    );
    const model = base
      ? await composeBaseHead(join(out, 'model'), options.id, base.manifestPath, expressionHead.layers)
      : await composeHeadModel(join(out, 'model'), options.id, expressionHead, head.weights.sha256);
    const { manifest } = await loadExpressionModel(model.manifestPath);
    return {
      head,
      manifestPath: model.manifestPath,
      model: `${manifest.id}@${manifest.version}`,
      splitFiles,
      counts,
      bestEpoch: trained.bestEpoch,
      history: trained.history,
      validationPrecisionAt10,
      seconds: { hashing: hashSeconds, ...trained.seconds },
    };
  } finally {
    await gemm.close();
  }
}

interface Parts {
  fit: LabelledImage[];
  monitor: LabelledImage[];
  validation: LabelledImage[];
}

interface Trained {
  expressionHead: ExpressionHead;
  bestEpoch: number;
  history: EpochReport[];
  validationPrecisionAt10: { trunk: number; head: number };
  counts: HeadTrainingResult['counts'];
  seconds: { features: number; training: number };
}

type Progress = (phase: string, done: number, total: number) => void;

const epochLine = (r: EpochReport) =>
  `epoch ${r.epoch}/${r.epochs}: loss ${r.loss.toFixed(4)}, monitor P@10 ${r.monitorPrecision.toFixed(4)} (${(r.ms / 1000).toFixed(1)} s)`;

function reportUnreadable(
  failures: readonly { path: string; code: string; message: string }[],
  say: (line: string) => void,
) {
  for (const f of failures.slice(0, 5)) say(`skipped ${f.path}: ${f.message} [${f.code}]`);
  if (failures.length > 5) say(`… ${failures.length - 5} more unreadable images skipped`);
}

/** A head over the frozen trunk's features. */
async function frozen(
  options: HeadTrainingOptions,
  gemm: Gemm,
  parts: Parts,
  hashes: Awaited<ReturnType<typeof hashImages>>,
  classes: number,
  labelsOf: (set: readonly LabelledImage[]) => Int32Array,
  progress: Progress,
  say: (line: string) => void,
): Promise<Trained> {
  const t0 = performance.now();
  // One pass over every image: the trunk model and the cache are loaded once, then split.
  const items = [...parts.fit, ...parts.monitor, ...parts.validation];
  const shared = {
    cacheDir: options.cacheDir,
    hashes,
    ...(options.encoder ? { encoder: options.encoder } : {}),
    onProgress: progress,
  };
  const all =
    options.input === 'model'
      ? await modelFeatures(items, options.base!, shared)
      : await trunkFeatures(items, {
          ...shared,
          input: options.input,
          workDir: join(resolve(options.out), 'trunk'),
        });
  const sets = {
    fit: subset(all, parts.fit),
    monitor: subset(all, parts.monitor),
    validation: subset(all, parts.validation),
  };
  reportUnreadable(all.failures, say);
  const featureSeconds = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const trained = await trainHead(
    gemm,
    { features: sets.fit.features, labels: labelsOf(sets.fit.items) },
    { features: sets.monitor.features, labels: labelsOf(sets.monitor.items) },
    classes,
    options,
    (r) => say(epochLine(r)),
  );
  const trainingSeconds = (performance.now() - t1) / 1000;
  const valLabels = labelsOf(sets.validation.items);
  return {
    expressionHead: trained.model.toExpressionHead(),
    bestEpoch: trained.bestEpoch,
    history: trained.history,
    validationPrecisionAt10: {
      trunk: precisionAtK(sets.validation.features, valLabels, sets.validation.dims),
      head: precisionAtK(
        await trained.model.embed(sets.validation.features, valLabels.length),
        valLabels,
        trained.model.dims,
      ),
    },
    counts: countsOf(sets, all.failures.length),
    seconds: { features: featureSeconds, training: trainingSeconds },
  };
}

/** The last dense block fine-tuned jointly with the head, on maps extracted once (with mirrors). */
async function fineTuned(
  options: HeadTrainingOptions,
  gemm: Gemm,
  parts: Parts,
  hashes: Awaited<ReturnType<typeof hashImages>>,
  classes: number,
  labelsOf: (set: readonly LabelledImage[]) => Int32Array,
  progress: Progress,
  say: (line: string) => void,
): Promise<Trained> {
  const block = options.fineTune!;
  const source = DENSE_BLOCKS[DENSE_BLOCKS.indexOf(block) - 1]!;
  const t0 = performance.now();
  const fitSet = new Set(parts.fit);
  const all = await trunkMaps([...parts.fit, ...parts.monitor, ...parts.validation], {
    block: source,
    hashes,
    flip: (item) => options.mirror && fitSet.has(item),
    cacheDir: options.cacheDir,
    ...(options.encoder?.threads !== undefined ? { threads: options.encoder.threads } : {}),
    onProgress: (done, total) =>
      progress(`${source} maps${options.mirror ? ' (with mirrored training faces)' : ''}`, done, total),
  });
  reportUnreadable(all.failures, say);
  const featureSeconds = (performance.now() - t0) / 1000;
  const part = (wanted: readonly LabelledImage[]) => {
    const rows = rowsOf(all.items, wanted);
    return {
      items: rows.map((r) => all.items[r]!),
      original: rows.map((r) => all.original[r]!),
      flipped: rows.map((r) => all.flipped[r] ?? null),
    };
  };
  const sets = { fit: part(parts.fit), monitor: part(parts.monitor), validation: part(parts.validation) };
  const tensors = await expressionBlockTensors(block);
  const t1 = performance.now();
  const pool = DepthwisePool.create();
  try {
    const trainable = new TrainableDenseBlock(gemm, block, tensors, { pool });
    const trained = await trainTuned(
      gemm,
      trainable,
      { original: sets.fit.original, flipped: sets.fit.flipped, labels: labelsOf(sets.fit.items) },
      { original: sets.monitor.original, labels: labelsOf(sets.monitor.items) },
      classes,
      options,
      (r) => say(epochLine(r)),
    );
    const trainingSeconds = (performance.now() - t1) / 1000;
    const valLabels = labelsOf(sets.validation.items);
    // The frozen trunk's grid features, for the quick comparison: face-api's own block in JS.
    const original = new TunedModel(
      new TrainableDenseBlock(gemm, block, tensors, { pool }),
      trained.model.head,
    );
    return {
      expressionHead: trained.model.toExpressionHead(),
      bestEpoch: trained.bestEpoch,
      history: trained.history,
      validationPrecisionAt10: {
        trunk: precisionAtK(
          await original.gridFeatures(sets.validation.original),
          valLabels,
          trainable.gridWidth,
        ),
        head: precisionAtK(
          await trained.model.embedMaps(sets.validation.original),
          valLabels,
          trained.model.dims,
        ),
      },
      counts: countsOf(sets, all.failures.length),
      seconds: { features: featureSeconds, training: trainingSeconds },
    };
  } finally {
    await pool?.close(); // null on one core
  }
}

/** The rows of `items` that belong to `part` (unreadable images have none), in `items`' order. */
function rowsOf(items: readonly LabelledImage[], part: readonly LabelledImage[]): number[] {
  const wanted = new Set(part);
  return items.flatMap((item, row) => (wanted.has(item) ? [row] : []));
}

function countsOf(
  sets: Record<keyof Parts, { items: readonly LabelledImage[] }>,
  unreadable: number,
): Trained['counts'] {
  return {
    train: sets.fit.items.length,
    monitor: sets.monitor.items.length,
    validation: sets.validation.items.length,
    unreadable,
  };
}

/** The rows of `all` that belong to `part`, in `all`'s order. */
function subset(all: FeatureSet, part: readonly LabelledImage[]): FeatureSet {
  const rows = rowsOf(all.items, part);
  const features = new Float32Array(rows.length * all.dims);
  rows.forEach((row, i) => {
    features.set(all.features.subarray(row * all.dims, (row + 1) * all.dims), i * all.dims);
  });
  return { items: rows.map((row) => all.items[row]!), features, dims: all.dims, failures: [] };
}

const round = (v: number) => Math.round(v * 1e4) / 1e4;
