import { join, resolve } from 'node:path';
import { InputError } from '@fever/errors';
import type { Config } from '@fever/schema';
import type { Command } from 'commander';
import { encoderOptions } from '../encoder-options.ts';
import { numberFlag, wholeNumberFlag } from '../number-flags.ts';
import { print, printError } from '../terminal.ts';

interface TrainHeadFlags {
  labels: string;
  root?: string;
  out: string;
  id: string;
  input: string;
  base?: string;
  loss: string;
  hidden: string;
  dims: string;
  epochs?: string;
  batch: string;
  lr: string;
  weightDecay: string;
  scale: string;
  margin?: string;
  seed: string;
  fineTune?: string;
  trunkLr: string;
  mirror: boolean;
  validation: string;
  monitor: string;
  cache?: string | false;
  device?: string;
  threads?: string;
}

const FROZEN_EPOCHS = 12;
// An epoch of the fine-tuned block takes minutes on a 2-core CPU (docs/QUALITY.md, section 4).
const TUNED_EPOCHS = 6;

export function registerTrain(program: Command, config: () => Config): void {
  const train = program.command('train').description('learn an expression-similarity embedding');
  train
    .command('split')
    .description(
      'split labelled face crops as `fever train head` does (identical images kept together) and write train.csv (= fit + monitor), fit.csv, monitor.csv and validation.csv: the data lists of an external trainer (packages/train/python) and of `fever eval`',
    )
    .requiredOption('--labels <csv>', 'CSV with a header: path,label (each image a face crop, e.g. FER2013)')
    .option('--root <dir>', 'folder the paths are relative to (default: the CSV folder)')
    .requiredOption('--out <dir>', 'output folder')
    .option('--seed <n>', 'seed of the split', '1')
    .option('--validation <share>', 'share of each label held out for validation, never trained on', '0.1')
    .option('--monitor <share>', 'share of the training part used to pick the best epoch', '0.05')
    .action(
      async (flags: {
        labels: string;
        root?: string;
        out: string;
        seed: string;
        validation: string;
        monitor: string;
      }) => {
        const { writeSplit } = await import('@fever/train');
        const split = await writeSplit({
          labels: flags.labels,
          root: flags.root,
          dir: flags.out,
          seed: intFlag('seed', flags.seed, 0),
          validation: share('validation', flags.validation),
          monitor: share('monitor', flags.monitor),
          onProgress: (line) => printError(`fever: ${line}`),
        });
        for (const [name, file] of Object.entries(split.files)) {
          print(`wrote ${file} (${split[name as keyof typeof split.files].length} faces)`);
        }
      },
    );
  train
    .command('head')
    .description(
      'train an embedding head over the face-api trunk (frozen, or with its last dense block fine-tuned) on labelled face crops; writes head.json/head.bin, model/ (ONNX + manifest) and split/',
    )
    .requiredOption('--labels <csv>', 'CSV with a header: path,label (each image a face crop, e.g. FER2013)')
    .option('--root <dir>', 'folder the paths are relative to (default: the CSV folder)')
    .requiredOption('--out <dir>', 'output folder')
    .option('--id <id>', 'model id of the composed model', 'fever-expression-head')
    .option('--input <features>', 'trunk features the head reads: grid (3×3×256) | pooled (256)', 'grid')
    .option(
      '--base <manifest>',
      "read this expression model's embedding instead (any model, a composite too; frozen): the result is that model plus the head",
    )
    .option('--loss <name>', 'cosface | triplet (semi-hard negatives)', 'cosface')
    .option('--hidden <widths>', 'hidden layer widths, comma-separated; "" for a linear head', '1024')
    .option('--dims <n>', 'embedding dimensions', '64')
    .option(
      '--epochs <n>',
      `passes over the training split (default ${FROZEN_EPOCHS}; ${TUNED_EPOCHS} with --fine-tune)`,
    )
    .option('--batch <n>', 'faces per step', '256')
    .option('--lr <rate>', 'AdamW learning rate (cosine decay to 0)', '0.001')
    .option('--weight-decay <w>', 'AdamW decoupled weight decay', '0.001')
    .option('--scale <s>', 'cosface: logit scale', '16')
    .option('--margin <m>', 'cosface margin (default 0.2) or triplet margin (default 0.3)')
    .option('--seed <n>', 'seed of the split, the initialisation, the batch order and the flips', '1')
    .option(
      '--fine-tune <block>',
      'also train this last trunk block (dense3) with the head, on its input maps extracted once, training faces mirrored at random (default: frozen trunk)',
    )
    .option('--trunk-lr <rate>', 'AdamW learning rate of the fine-tuned block (cosine decay to 0)', '0.0001')
    .option('--no-mirror', 'with --fine-tune: do not show training faces mirrored (flip augmentation)')
    .option('--validation <share>', 'share of each label held out for validation, never trained on', '0.1')
    .option('--monitor <share>', 'share of the training part used to pick the best epoch', '0.05')
    .option('--cache <dir>', 'feature cache folder (default: $FEVER_DATA_DIR/cache/embeddings)')
    .option('--no-cache', 'extract every feature again and keep nothing')
    .option('--device <device>', 'auto | cpu | cuda (default: FEVER_DEVICE or auto)')
    .option('--threads <n>', 'onnxruntime threads, 0 = one per core (default: FEVER_THREADS)')
    .action(async (flags: TrainHeadFlags) => {
      const { runHeadTraining } = await import('@fever/train');
      const cfg = config();
      if (flags.input !== 'grid' && flags.input !== 'pooled') {
        throw new InputError('BAD_FLAG', `--input must be grid or pooled, got '${flags.input}'`);
      }
      if (flags.base !== undefined && flags.input !== 'grid') {
        throw new InputError(
          'BAD_FLAG',
          '--input picks trunk features; with --base the head reads that model',
        );
      }
      if (flags.loss !== 'cosface' && flags.loss !== 'triplet') {
        throw new InputError('BAD_FLAG', `--loss must be cosface or triplet, got '${flags.loss}'`);
      }
      if (flags.fineTune !== undefined && flags.fineTune !== 'dense3') {
        throw new InputError('BAD_FLAG', `--fine-tune must be dense3, got '${flags.fineTune}'`);
      }
      const fineTune = flags.fineTune === 'dense3' ? 'dense3' : null;
      const hidden =
        flags.hidden.trim() === '' ? [] : flags.hidden.split(',').map((w) => intFlag('hidden', w.trim(), 1));
      const { expressionModel: _unused, ...encoder } = encoderOptions(
        cfg,
        { device: flags.device, threads: flags.threads },
        (line) => printError(`fever: ${line}`),
      );
      const result = await runHeadTraining({
        labels: flags.labels,
        root: flags.root,
        out: flags.out,
        id: flags.id,
        input: flags.base === undefined ? flags.input : 'model',
        ...(flags.base === undefined ? {} : { base: resolve(flags.base) }),
        loss: flags.loss,
        hidden,
        dims: intFlag('dims', flags.dims, 2),
        epochs: intFlag('epochs', flags.epochs ?? String(fineTune ? TUNED_EPOCHS : FROZEN_EPOCHS), 1),
        batchSize: intFlag('batch', flags.batch, 8),
        learningRate: positive('lr', flags.lr),
        weightDecay: nonNegative('weight-decay', flags.weightDecay),
        scale: positive('scale', flags.scale),
        margin: nonNegative('margin', flags.margin ?? (flags.loss === 'cosface' ? '0.2' : '0.3')),
        seed: intFlag('seed', flags.seed, 0),
        fineTune,
        trunkLearningRate: nonNegative('trunk-lr', flags.trunkLr),
        mirror: flags.mirror,
        validation: share('validation', flags.validation),
        monitor: share('monitor', flags.monitor),
        cacheDir: flags.cache === false ? null : (flags.cache ?? join(cfg.dataDir, 'cache', 'embeddings')),
        encoder,
        onProgress: (line) => printError(`fever: ${line}`),
      });
      const v = result.validationPrecisionAt10;
      const features = flags.base === undefined ? 'trunk features' : 'base model features';
      print(
        `validation precision@10: head ${(v.head * 100).toFixed(1)}%, ${features} ${(v.trunk * 100).toFixed(1)}% ` +
          `(${result.counts.validation} held-out faces, best epoch ${result.bestEpoch})`,
      );
      const t = result.seconds;
      print(
        `time: hashing ${t.hashing.toFixed(1)} s, ${fineTune ? `${fineTune} input maps` : features} ${t.features.toFixed(1)} s, training ${t.training.toFixed(1)} s`,
      );
      print(`wrote ${join(flags.out, 'head.json')} and head.bin`);
      print(`      ${result.manifestPath} (model ${result.model})`);
      print(`      ${result.splitFiles.validation}`);
      print(
        `evaluate: fever eval retrieval --labels ${result.splitFiles.validation} --root ${flags.root ?? join(flags.labels, '..')} --model ${result.manifestPath}`,
      );
    });
}

const intFlag = (name: string, value: string, min: number) => wholeNumberFlag(name, value, min);
const positive = (name: string, value: string) => numberFlag(name, value, (n) => n > 0, 'must be > 0');
const nonNegative = (name: string, value: string) => numberFlag(name, value, (n) => n >= 0, 'must be ≥ 0');
const share = (name: string, value: string) =>
  numberFlag(name, value, (n) => n > 0 && n < 1, 'must lie between 0 and 1');
