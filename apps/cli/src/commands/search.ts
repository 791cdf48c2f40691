import { InputError } from '@fever/errors';
import { type Config, diverseParamSchema, type FaceSelection, personParamSchema } from '@fever/schema';
import type { Command } from 'commander';
import { print } from '../terminal.ts';
import { indexingLogger, intFlag } from './indexing-flags.ts';

interface SearchFlags {
  collection?: string;
  k: string;
  face: string;
  json?: boolean;
  person?: string;
  diverse?: string;
  fold?: boolean;
}

export function registerSearch(program: Command, config: () => Config): void {
  program
    .command('search')
    .description('find indexed faces with an expression like the face in a photo (the search the API serves)')
    .argument('<image>', 'a photo with a face (JPEG, PNG, WebP, GIF, TIFF, AVIF)')
    .option('--collection <name>', 'search this collection (default: every collection)')
    .option('--k <n>', 'results per query face', '10')
    .option(
      '--face <which>',
      'largest | all | whole (the photo is a face crop: no detection) | the index of a face in the photo',
      'largest',
    )
    .option(
      '--person <who>',
      "other: leave out the photo's own person; a person id: only that person's faces",
    )
    .option('--diverse <n>', 'at most n results per person (true: one)')
    .option(
      '--fold',
      'fold near-duplicates (same person, near-identical expression) into one result with a count',
    )
    .option('--json', 'print the full response as JSON')
    .action(async (image: string, flags: SearchFlags) => {
      const k = intFlag('k', flags.k, 1, 1000)!;
      const face = faceSelection(flags.face);
      const person = flagWith('--person', personParamSchema, flags.person);
      const diverse = flagWith('--diverse', diverseParamSchema, flags.diverse);
      const cfg = config();
      const { readImageFile } = await import('@fever/encoder');
      const bytes = await readImageFile(image);
      const { openRuntime, SearchService } = await import('@fever/core');
      const runtime = await openRuntime(cfg, { logger: await indexingLogger(cfg) });
      try {
        const t0 = performance.now();
        const result = await new SearchService(runtime).byImage(bytes, {
          k,
          face,
          name: image,
          ...(flags.collection ? { filter: { collections: [flags.collection] } } : {}),
          ...(person ? { person } : {}),
          ...(diverse === undefined ? {} : { diverse }),
          ...(flags.fold ? { fold: true } : {}),
        });
        const tookMs = performance.now() - t0;
        if (flags.json) {
          print(JSON.stringify({ ...result, k, tookMs }, null, 2));
          return;
        }
        if (result.faces.length === 0) {
          print(`no face found in ${image}`);
          process.exitCode = 1;
          return;
        }
        for (const q of result.faces) {
          const b = q.box;
          if (q.source === 'whole-image' && face.mode !== 'whole') {
            print(`no face detected in ${image}: searching with the whole image as the face`);
          }
          print(
            `face ${q.faceIndex} of ${image} (${q.label} ${pct(q.probs[q.label])}) at ${Math.round(b.x)},${Math.round(b.y)} ` +
              `${Math.round(b.width)}×${Math.round(b.height)}: ${q.results.length} most similar` +
              `${flags.collection ? ` in '${flags.collection}'` : ''}`,
          );
          q.results.forEach((r, i) => {
            const who = `${r.personId == null ? '' : `  person ${r.personId}`}${r.folded && r.folded.count > 1 ? `  ×${r.folded.count}` : ''}`;
            print(
              `  ${String(i + 1).padStart(3)}. ${r.similarity.toFixed(3)}  ${r.label.padEnd(9)} ${r.image.uri}  face ${r.faceIndex}${who}`,
            );
          });
        }
        print(`(${result.model.id}@${result.model.version}, ${tookMs.toFixed(0)} ms)`);
      } finally {
        await runtime.close();
      }
    });
}

function faceSelection(value: string): FaceSelection {
  if (value === 'largest' || value === 'all' || value === 'whole') return { mode: value };
  const index = Number(value);
  if (!Number.isInteger(index) || index < 0) {
    throw new InputError(
      'BAD_FLAG',
      `--face must be largest, all, whole or a face index (0, 1, …), got '${value}'`,
    );
  }
  return { mode: 'index', index };
}

/** A flag parsed by the API's schema for the same parameter, so both accept the same values. */
function flagWith<T>(
  name: string,
  schema: {
    safeParse(
      v: unknown,
    ): { success: true; data: T } | { success: false; error: { issues: { message: string }[] } };
  },
  value: string | undefined,
): T | undefined {
  if (value === undefined) return undefined;
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new InputError(
      'BAD_FLAG',
      `${name} ${parsed.error.issues[0]?.message ?? 'is invalid'}, got '${value}'`,
    );
  return parsed.data;
}

function pct(p: number | undefined): string {
  return p === undefined ? '' : `${(100 * p).toFixed(0)}%`;
}
