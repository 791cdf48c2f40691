import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { EncoderOptions } from '@fever/encoder';
import { InputError } from '@fever/errors';
import type { EvalProgress, FecEvalResult, RetrievalEvalResult } from '@fever/eval';
import type { Config } from '@fever/schema';
import type { Command } from 'commander';
import { encoderOptions } from '../encoder-options.ts';
import { wholeNumberFlag } from '../number-flags.ts';
import { print, printError } from '../terminal.ts';

interface CommonFlags {
  model?: string[];
  output?: string[];
  distance: string;
  out?: string;
  cache?: string | false;
  device?: string;
  threads?: string;
}

interface FecFlags extends CommonFlags {
  images?: string;
  map?: string;
  bootstrap: string;
  seed: string;
  gallery: string;
}

interface RetrievalFlags extends CommonFlags {
  labels: string;
  root?: string;
  faces: string;
  groupBy?: string;
  minScore?: string;
  inputSize?: string;
  detector?: string;
}

interface MakeTripletsFlags {
  labels: string;
  root?: string;
  out: string;
  count: string;
  seed: string;
  groupBy?: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerEval(program: Command, config: () => Config): void {
  const evalCommand = program
    .command('eval')
    .description('measure an expression model: FEC triplet agreement, retrieval quality on labelled sets');

  withModelFlags(
    evalCommand
      .command('fec')
      .description('agreement with human judgements on FEC-format triplets (report.json + report.html)')
      .argument('<triplets>', 'FEC CSV: no header; 3 × (url, 4 box fractions), type, annotator/answer pairs')
      .option('--images <dir>', 'folder of the downloaded images (matched by URL basename or relative path)')
      .option(
        '--map <csv>',
        'CSV url,path naming each image file (paths relative to --images, else to the CSV)',
      )
      .option('--bootstrap <n>', 'bootstrap resamples for the 95% intervals', '1000')
      .option('--seed <n>', 'seed of the bootstrap', '1')
      .option('--gallery <n>', 'most confident disagreements shown per model output', '12'),
  ).action(async (triplets: string, flags: FecFlags) => {
    const { runFecEval, writeReport } = await import('@fever/eval');
    const cfg = config();
    const result = await runFecEval({
      triplets,
      images: flags.images,
      map: flags.map,
      ...modelOptions(cfg, flags),
      bootstrapSamples: wholeNumberFlag('bootstrap', flags.bootstrap, 1),
      seed: wholeNumberFlag('seed', flags.seed, 0),
      gallerySize: wholeNumberFlag('gallery', flags.gallery, 0),
      onProgress: progressPrinter(),
    });
    const paths = await writeReport(result, flags.out ?? 'fever-eval-fec');
    printFec(result);
    print(`wrote ${paths.json}\n      ${paths.html}`);
    if (result.report.triplets.used === 0) {
      printError('fever: no triplet could be scored; see the skipped counts above [EVAL_NOTHING_SCORED]');
      process.exitCode = 1;
    }
  });

  withModelFlags(
    evalCommand
      .command('retrieval')
      .description('leave-one-out kNN accuracy, precision@10 and mAP on a labelled image set')
      .requiredOption('--labels <csv>', 'CSV with a header: path,label[,more columns]')
      .option('--root <dir>', 'folder the paths are relative to (default: the CSV folder)')
      .option(
        '--faces <mode>',
        'crop: the whole image is the face; detect: the largest detected face',
        'crop',
      )
      .option(
        '--group-by <column>',
        'leave out neighbours that share this column with the query (e.g. subject); person-cluster: ' +
          "the query's identity cluster (for sets without identity labels)",
      )
      .option('--min-score <p>', 'detect mode: minimum detection score (default 0.5)')
      .option('--input-size <px>', 'detect mode: detector input size, a multiple of 32 (default 416)')
      .option(
        '--detector <name>',
        'detect mode: tiny | tiny-608 | ssd | a detector manifest (default: FEVER_DETECTOR or tiny)',
      ),
  ).action(async (flags: RetrievalFlags) => {
    const { runRetrievalEval, writeReport } = await import('@fever/eval');
    if (flags.faces !== 'crop' && flags.faces !== 'detect') {
      throw new InputError('BAD_FLAG', `--faces must be crop or detect, got '${flags.faces}'`);
    }
    const cfg = config();
    const result = await runRetrievalEval({
      labels: flags.labels,
      root: flags.root,
      faces: flags.faces,
      groupBy: flags.groupBy,
      ...modelOptions(cfg, flags),
      onProgress: progressPrinter(),
    });
    const paths = await writeReport(result, flags.out ?? 'fever-eval-retrieval');
    printRetrieval(result);
    print(`wrote ${paths.json}\n      ${paths.html}`);
    if (result.metrics.variants.every((v) => v.queries === 0)) {
      printError('fever: no image could be used as a query [EVAL_NOTHING_SCORED]');
      process.exitCode = 1;
    }
  });

  evalCommand
    .command('people')
    .description(
      "identity in expression search: the share of a query's top 10 that is its own person, with and without person=other, and how the faces cluster into people",
    )
    .requiredOption('--labels <csv>', 'CSV with a header: path,label[,more columns]')
    .option('--root <dir>', 'folder the paths are relative to (default: the CSV folder)')
    .option('--faces <mode>', 'crop: the whole image is the face; detect: the largest detected face', 'crop')
    .option(
      '--person <column>',
      "the column naming each image's person (default: from the file name, Name_0001.jpg)",
    )
    .option('--model <manifest>', 'expression model manifest (default: FEVER_MODEL or fever-expression)')
    .option('--thresholds <list>', 'more link distances to report the clustering at, comma-separated')
    .option('--out <file>', 'where to write the result as JSON')
    .option('--device <device>', 'auto | cpu | cuda (default: FEVER_DEVICE or auto)')
    .option('--threads <n>', 'onnxruntime threads, 0 = one per core (default: FEVER_THREADS)')
    .action(
      async (flags: {
        labels: string;
        root?: string;
        faces: string;
        person?: string;
        model?: string;
        thresholds?: string;
        out?: string;
        device?: string;
        threads?: string;
      }) => {
        if (flags.faces !== 'crop' && flags.faces !== 'detect') {
          throw new InputError('BAD_FLAG', `--faces must be crop or detect, got '${flags.faces}'`);
        }
        const thresholds = (flags.thresholds ?? '')
          .split(',')
          .filter((t) => t.trim() !== '')
          .map((t) => {
            const v = Number(t);
            if (!(Number.isFinite(v) && v >= 0 && v <= 2)) {
              throw new InputError('BAD_FLAG', `--thresholds must be cosine distances in [0, 2], got '${t}'`);
            }
            return v;
          });
        const cfg = config();
        const { expressionModel, ...encoder }: EncoderOptions = encoderOptions(
          cfg,
          { device: flags.device, threads: flags.threads },
          (line) => printError(`fever: ${line}`),
        );
        const { runPeopleEval } = await import('@fever/eval');
        let last = 0;
        const result = await runPeopleEval({
          labels: flags.labels,
          ...(flags.root ? { root: flags.root } : {}),
          faces: flags.faces,
          ...(flags.person ? { personColumn: flags.person } : {}),
          ...((flags.model ?? expressionModel) ? { model: flags.model ?? expressionModel } : {}),
          thresholds,
          encoder,
          onProgress: (done, total) => {
            if (Date.now() - last > 2000 || done === total) {
              last = Date.now();
              printError(`fever: embed ${done}/${total}`);
            }
          },
        });
        if (flags.out) {
          const { writeFile } = await import('node:fs/promises');
          await writeFile(flags.out, `${JSON.stringify(result, null, 2)}\n`);
        }
        const { search, images, people } = result;
        print(
          `${images.used} faces of ${images.total} images (${images.noFace} without a face, ${images.unreadable} unreadable), ` +
            `${people.true} people (${people.withTwoOrMore} with 2+ faces); chance own-person share ${pct(result.chanceOwnShare)}`,
        );
        printTable(
          ['top 10 by expression', 'own person', 'P@10 others', 'P@10'],
          (
            [
              ['plain', search.plain],
              ['person=other (cluster)', search.otherByCluster],
              ['person=other (distance)', search.otherByDistance],
            ] as const
          ).map(([name, f]) => [name, pct(f.ownPersonShare), pct(f.precisionOthers), pct(f.precision)]),
        );
        printTable(
          ['link distance', 'pair precision', 'pair recall', 'clusters', 'people'],
          result.clustering.map((c) => [
            String(c.threshold),
            pct(c.precision),
            pct(c.recall),
            String(c.clusters),
            String(c.people),
          ]),
        );
      },
    );

  evalCommand
    .command('make-triplets')
    .description('write FEC-format TWO_CLASS triplets from a labelled image set (no FEC download needed)')
    .requiredOption('--labels <csv>', 'CSV with a header: path,label[,more columns]')
    .option('--root <dir>', 'folder the paths are relative to (default: the CSV folder)')
    .requiredOption('--out <csv>', 'where to write the triplets')
    .option('--count <n>', 'triplets to draw', '1000')
    .option('--seed <n>', 'seed of the draw', '1')
    .option(
      '--group-by <column>',
      'draw the three faces of a triplet from three different values of this column',
    )
    .action(async (flags: MakeTripletsFlags) => {
      const { formatFecCsv, makeTriplets, readLabels } = await import('@fever/eval');
      const { writeFile } = await import('node:fs/promises');
      const items = await readLabels(flags.labels, { root: flags.root, groupBy: flags.groupBy });
      const missing: string[] = [];
      await Promise.all(
        items.map((item) =>
          access(item.file).catch(() => {
            missing.push(item.file);
          }),
        ),
      );
      if (missing.length > 0) {
        throw new InputError(
          'LABELS_FILES_MISSING',
          `${missing.length} images named in ${flags.labels} do not exist (e.g. ${missing.slice(0, 3).join(', ')}); is --root right?`,
        );
      }
      const triplets = makeTriplets(items, {
        count: wholeNumberFlag('count', flags.count, 1),
        seed: wholeNumberFlag('seed', flags.seed, 0),
        groupBy: flags.groupBy !== undefined,
      });
      await writeFile(flags.out, formatFecCsv(triplets));
      const root = flags.root ?? join(flags.labels, '..');
      print(`wrote ${triplets.length} TWO_CLASS triplets to ${flags.out}`);
      print(`evaluate them with: fever eval fec ${flags.out} --images ${root}`);
    });
}

function withModelFlags(command: Command): Command {
  return command
    .option(
      '--model <manifest>',
      'expression model manifest; repeat to compare models (default: FEVER_MODEL or fever-expression)',
      collect,
    )
    .option(
      '--output <name>',
      'model output used as the embedding: embedding | probs; repeat to compare (default: embedding)',
      collect,
    )
    .option('--distance <name>', 'cosine | euclidean', 'cosine')
    .option('--out <dir>', 'folder for report.json and report.html')
    .option('--cache <dir>', 'embedding cache folder (default: $FEVER_DATA_DIR/cache/embeddings)')
    .option('--no-cache', 'embed everything again and keep nothing')
    .option('--device <device>', 'auto | cpu | cuda (default: FEVER_DEVICE or auto)')
    .option('--threads <n>', 'onnxruntime threads, 0 = one per core (default: FEVER_THREADS)');
}

function modelOptions(
  cfg: Config,
  flags: CommonFlags & { minScore?: string; inputSize?: string; detector?: string },
) {
  const outputs = flags.output?.length ? flags.output : ['embedding'];
  for (const o of outputs) {
    if (o !== 'embedding' && o !== 'probs') {
      throw new InputError('BAD_FLAG', `--output must be embedding or probs, got '${o}'`);
    }
  }
  if (flags.distance !== 'cosine' && flags.distance !== 'euclidean') {
    throw new InputError('BAD_FLAG', `--distance must be cosine or euclidean, got '${flags.distance}'`);
  }
  const { expressionModel, ...encoder }: EncoderOptions = encoderOptions(
    cfg,
    {
      device: flags.device,
      threads: flags.threads,
      minScore: flags.minScore,
      inputSize: flags.inputSize,
      detector: flags.detector,
    },
    (line) => printError(`fever: ${line}`),
  );
  return {
    models: flags.model?.length ? flags.model : [expressionModel],
    outputs: outputs as ('embedding' | 'probs')[],
    distance: flags.distance as 'cosine' | 'euclidean',
    cacheDir: flags.cache === false ? null : (flags.cache ?? join(cfg.dataDir, 'cache', 'embeddings')),
    maxPixels: cfg.maxPixels,
    encoder,
  };
}

/** Progress on stderr: each phase once, then at most every 2 s. */
function progressPrinter(): (p: EvalProgress) => void {
  let lastKey = '';
  let lastTime = 0;
  return (p) => {
    const key = `${p.phase} ${p.model ?? ''}`;
    const now = Date.now();
    if (key === lastKey && now - lastTime < 2000 && p.done !== p.total) return;
    lastKey = key;
    lastTime = now;
    printError(`fever: ${p.phase}${p.model ? ` ${p.model}` : ''} ${p.done}/${p.total}`);
  };
}

const pct = (v: number | null) => (v === null ? '–' : `${(v * 100).toFixed(1)}%`);
const range = (r: [number, number] | null) =>
  r ? `${(r[0] * 100).toFixed(1)}–${(r[1] * 100).toFixed(1)}` : '–';

function printTable(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  print(line(head));
  for (const r of rows) print(line(r));
}

function printFec(result: FecEvalResult): void {
  const { metrics, report } = result;
  const row = (name: string, s: FecEvalResult['metrics']['human']) => [
    name,
    String(s.overall.n),
    pct(s.overall.accuracy),
    range(s.overall.ci95),
    pct(s.byType.ONE_CLASS_TRIPLET.accuracy),
    pct(s.byType.TWO_CLASS_TRIPLET.accuracy),
    pct(s.byType.THREE_CLASS_TRIPLET.accuracy),
    pct(s.strict.accuracy),
  ];
  printTable(
    ['model · output', 'triplets', 'accuracy', '95% CI', 'one', 'two', 'three', 'strict'],
    [...metrics.variants.map((v) => row(v.variant, v)), row('human ceiling', metrics.human)],
  );
  const reasons = (rec: Record<string, number | undefined>) =>
    Object.entries(rec)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || 'none';
  print(
    `rows ${report.source.rows}, malformed ${report.source.malformed}; triplets parsed ${report.triplets.parsed}, used ${report.triplets.used}, skipped: ${reasons(report.triplets.skipped)}`,
  );
  if (report.source.malformed > 0) {
    for (const m of report.source.malformedRows.slice(0, 5)) print(`  ${m.message} [${m.code}]`);
    if (report.source.malformed > 5) print(`  … ${report.source.malformed - 5} more in report.json`);
  }
  print(
    `cache: ${report.variants.map((v) => `${v.cache.hits} hits, ${v.cache.misses} misses`).join('; ')}; total ${(result.timings.totalMs / 1000).toFixed(1)} s`,
  );
}

function printRetrieval(result: RetrievalEvalResult): void {
  printTable(
    ['model · output', 'queries', 'kNN@1', 'kNN@5', 'kNN@10', 'P@10', 'mAP', 'chance P@10', 'ties k=1/5/10'],
    result.metrics.variants.map((v) => [
      v.variant,
      String(v.queries),
      ...v.knn.map((k) => pct(k.accuracy)),
      pct(v.precisionAt10),
      pct(v.map),
      pct(v.chancePrecisionAt10),
      v.ties.queriesWithTieAtK.map((t) => t.queries).join('/'),
    ]),
  );
  const img = result.report.images;
  print(
    `images ${result.report.labels.items}, used ${img.used}, unreadable ${img.unreadable.length}` +
      (result.params.faces === 'detect' ? `, no face ${img.noFace.length}` : '') +
      `; total ${(result.timings.totalMs / 1000).toFixed(1)} s`,
  );
}
