import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { InputError } from '@fever/errors';
import { hashImages, type LabelledImage, readLabels } from '@fever/eval';
import { stratifiedSplit } from './split.ts';

export interface SplitOptions {
  /** CSV `path,label` with a header (face crops). */
  labels: string;
  root?: string;
  /** Share of each label held out as the validation split (never trained on). */
  validation: number;
  /** Share of the training part held out to pick the best epoch (not the validation split). */
  monitor: number;
  seed: number;
  /** Folder the split files are written to. */
  dir: string;
  onProgress?: (line: string) => void;
}

export interface WrittenSplit {
  /** The labels in sorted order (a label's index is its class). */
  labelNames: string[];
  /** Content hash per image file (or the error that kept it unread). */
  hashes: Awaited<ReturnType<typeof hashImages>>;
  /** The training part (`fit` + `monitor`), its two parts, and the held-out validation split. */
  train: LabelledImage[];
  fit: LabelledImage[];
  monitor: LabelledImage[];
  validation: LabelledImage[];
  /** `path,label` CSVs (paths relative to the root), for `fever eval` and external trainers. */
  files: { train: string; fit: string; monitor: string; validation: string };
  hashSeconds: number;
}

/**
 * Reads a labelled set, hashes its images, splits it (byte-identical images on one side; see
 * stratifiedSplit) and writes the parts. The same labels, seed and image bytes always give the
 * same files, so a trainer outside fever (packages/train/python) trains on exactly the faces
 * `fever train head` would, and `fever eval` scores exactly the held-out ones.
 */
export async function writeSplit(options: SplitOptions): Promise<WrittenSplit> {
  const say = options.onProgress ?? (() => {});
  const items = await readLabels(options.labels, { root: options.root });
  const labelNames = [...new Set(items.map((i) => i.label))].sort();
  if (labelNames.length < 2) {
    throw new InputError(
      'LABELS_TOO_FEW',
      `${options.labels} has ${labelNames.length} label(s); training needs 2 or more`,
    );
  }
  let last = 0;
  const t0 = performance.now();
  // Content hashes first: byte-identical images stay on one side of every split, and key caches.
  const hashes = await hashImages(
    items.map((i) => i.file),
    (done) => {
      if (done === items.length || Date.now() - last > 2000) {
        last = Date.now();
        say(`hash ${done}/${items.length}`);
      }
    },
  );
  const hashSeconds = (performance.now() - t0) / 1000;
  const contentKey = (item: LabelledImage) => {
    const h = hashes.get(item.file);
    return typeof h === 'string' ? h : undefined;
  };
  const { train, validation } = stratifiedSplit(items, options.validation, options.seed, contentKey);
  const { train: fit, validation: monitor } = stratifiedSplit(
    train,
    options.monitor,
    options.seed + 1,
    contentKey,
  );
  say(
    `split: ${fit.length} train, ${monitor.length} monitor, ${validation.length} validation (seed ${options.seed}; identical images kept together)`,
  );

  const dir = resolve(options.dir);
  await mkdir(dir, { recursive: true });
  const root = resolve(options.root ?? join(options.labels, '..'));
  const parts = { train, fit, monitor, validation };
  const files = Object.fromEntries(
    Object.keys(parts).map((name) => [name, join(dir, `${name}.csv`)]),
  ) as WrittenSplit['files'];
  for (const [name, set] of Object.entries(parts)) {
    await writeFile(files[name as keyof typeof parts], labelsCsv(set, root));
  }
  return { labelNames, hashes, train, fit, monitor, validation, files, hashSeconds };
}

function labelsCsv(items: readonly LabelledImage[], root: string): string {
  const quote = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  return `path,label\n${items.map((i) => `${quote(relative(root, i.file))},${quote(i.label)}`).join('\n')}\n`;
}
