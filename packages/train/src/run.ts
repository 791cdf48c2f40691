import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { composeHeadModel, type EncoderOptions, type HeadFile, writeHeadFiles } from '@fever/encoder';
import { InputError } from '@fever/errors';
import { type LabelledImage, readLabels } from '@fever/eval';
import { type FeatureSet, trunkFeatures } from './features.ts';
import { Gemm } from './gemm.ts';
import { precisionAtK } from './monitor.ts';
import { stratifiedSplit } from './split.ts';
import { type EpochReport, type TrainOptions, trainHead } from './train.ts';

export interface HeadTrainingOptions extends TrainOptions {
  /** CSV `path,label` with a header (FER2013-style crops: the whole image is the face). */
  labels: string;
  root?: string;
  /** Output folder: head.json + head.bin, model/ (composed ONNX + manifest), split/. */
  out: string;
  /** Model id of the composed model. */
  id: string;
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
  splitFiles: { train: string; validation: string };
  counts: { train: number; monitor: number; validation: number; unreadable: number };
  bestEpoch: number;
  history: EpochReport[];
  /** Quick leave-one-out precision@10 on the validation split: trunk feature vs learned head. */
  validationPrecisionAt10: { trunk: number; head: number };
  seconds: { features: number; training: number };
}

/**
 * `fever train head`: split, extract trunk features, train, then write the head and the composed
 * model. The validation split is written out so `fever eval` can score exactly the held-out faces.
 */
export async function runHeadTraining(options: HeadTrainingOptions): Promise<HeadTrainingResult> {
  const say = options.onProgress ?? (() => {});
  const items = await readLabels(options.labels, { root: options.root });
  const labelNames = [...new Set(items.map((i) => i.label))].sort();
  if (labelNames.length < 2) {
    throw new InputError(
      'LABELS_TOO_FEW',
      `${options.labels} has ${labelNames.length} label(s); training needs 2 or more`,
    );
  }
  const { train, validation } = stratifiedSplit(items, options.validation, options.seed);
  const { train: fit, validation: monitor } = stratifiedSplit(train, options.monitor, options.seed + 1);
  say(
    `split: ${fit.length} train, ${monitor.length} monitor, ${validation.length} validation (seed ${options.seed})`,
  );

  const out = resolve(options.out);
  const splitDir = join(out, 'split');
  await mkdir(splitDir, { recursive: true });
  const root = resolve(options.root ?? join(options.labels, '..'));
  const splitFiles = {
    train: join(splitDir, 'train.csv'),
    validation: join(splitDir, 'validation.csv'),
  };
  await writeFile(splitFiles.train, labelsCsv(train, root));
  await writeFile(splitFiles.validation, labelsCsv(validation, root));

  let last = 0;
  const featureOptions = {
    input: options.input,
    workDir: join(out, 'trunk'),
    cacheDir: options.cacheDir,
    ...(options.encoder ? { encoder: options.encoder } : {}),
    onProgress: (phase: string, done: number, total: number) => {
      if (done === total || Date.now() - last > 2000) {
        last = Date.now();
        say(`${phase} ${done}/${total}`);
      }
    },
  };
  const t0 = performance.now();
  // One pass over every image: the trunk model and the cache are loaded once, then split.
  const all = await trunkFeatures([...fit, ...monitor, ...validation], featureOptions);
  const sets = {
    fit: subset(all, fit),
    monitor: subset(all, monitor),
    validation: subset(all, validation),
  };
  const unreadable = all.failures;
  for (const f of unreadable.slice(0, 5)) say(`skipped ${f.path}: ${f.message} [${f.code}]`);
  if (unreadable.length > 5) say(`… ${unreadable.length - 5} more unreadable images skipped`);
  const featureSeconds = (performance.now() - t0) / 1000;
  const labelsOf = (set: { items: LabelledImage[] }) =>
    Int32Array.from(set.items.map((i) => labelNames.indexOf(i.label)));

  const t1 = performance.now();
  const gemm = await Gemm.create(options.encoder?.threads ?? 0);
  try {
    const trained = await trainHead(
      gemm,
      { features: sets.fit.features, labels: labelsOf(sets.fit) },
      { features: sets.monitor.features, labels: labelsOf(sets.monitor) },
      labelNames.length,
      options,
      (r) =>
        say(
          `epoch ${r.epoch}/${r.epochs}: loss ${r.loss.toFixed(4)}, monitor P@10 ${r.monitorPrecision.toFixed(4)} (${(r.ms / 1000).toFixed(1)} s)`,
        ),
    );
    const trainingSeconds = (performance.now() - t1) / 1000;
    const valLabels = labelsOf(sets.validation);
    const validationPrecisionAt10 = {
      trunk: precisionAtK(sets.validation.features, valLabels, sets.validation.dims),
      head: precisionAtK(
        await trained.model.embed(sets.validation.features, valLabels.length),
        valLabels,
        trained.model.dims,
      ),
    };
    say(
      `validation P@10: head ${validationPrecisionAt10.head.toFixed(4)}, trunk ${options.input} features ${validationPrecisionAt10.trunk.toFixed(4)} (best epoch ${trained.bestEpoch})`,
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
    const head = await writeHeadFiles(out, options.id, trained.model.toExpressionHead(), {
      settings,
      data: {
        labels: relative(process.cwd(), resolve(options.labels)),
        labelNames,
        train: sets.fit.items.length,
        monitor: sets.monitor.items.length,
        validation: sets.validation.items.length,
        unreadable: unreadable.length,
      },
      bestEpoch: trained.bestEpoch,
      validationPrecisionAt10,
      history: trained.history.map((h) => ({
        epoch: h.epoch,
        loss: round(h.loss),
        monitorPrecisionAt10: round(h.monitorPrecision),
      })),
    });
    const model = await composeHeadModel(
      join(out, 'model'),
      options.id,
      trained.model.toExpressionHead(),
      head.weights.sha256,
    );
    return {
      head,
      manifestPath: model.manifestPath,
      splitFiles,
      counts: {
        train: sets.fit.items.length,
        monitor: sets.monitor.items.length,
        validation: sets.validation.items.length,
        unreadable: unreadable.length,
      },
      bestEpoch: trained.bestEpoch,
      history: trained.history,
      validationPrecisionAt10,
      seconds: { features: featureSeconds, training: trainingSeconds },
    };
  } finally {
    await gemm.close();
  }
}

/** The rows of `all` that belong to `part` (unreadable images have none), in `all`'s order. */
function subset(all: FeatureSet, part: readonly LabelledImage[]): FeatureSet {
  const wanted = new Set(part);
  const rows = all.items.flatMap((item, row) => (wanted.has(item) ? [row] : []));
  const features = new Float32Array(rows.length * all.dims);
  rows.forEach((row, i) => {
    features.set(all.features.subarray(row * all.dims, (row + 1) * all.dims), i * all.dims);
  });
  return { items: rows.map((row) => all.items[row]!), features, dims: all.dims, failures: [] };
}

function labelsCsv(items: readonly LabelledImage[], root: string): string {
  const quote = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  return `path,label\n${items.map((i) => `${quote(relative(root, i.file))},${quote(i.label)}`).join('\n')}\n`;
}

const round = (v: number) => Math.round(v * 1e4) / 1e4;
